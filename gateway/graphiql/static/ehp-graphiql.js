// The gateway's GraphiQL page. A file, not an inline script, so the page's
// Content-Security-Policy can allow scripts from the gateway alone.
(function () {
  "use strict";

  // GraphiQL keeps tabs, queries and headers in the browser's storage by default; headers hold a
  // bearer token. Here they live in memory and end with the page.
  var memory = new Map();
  var storage = {
    getItem: function (key) {
      return memory.has(key) ? memory.get(key) : null;
    },
    setItem: function (key, value) {
      memory.set(key, String(value));
    },
    removeItem: function (key) {
      memory.delete(key);
    },
    clear: function () {
      memory.clear();
    },
    get length() {
      return memory.size;
    },
  };

  var DEFAULT_QUERY = [
    "# The electronic health passport's GraphQL API.",
    "# Put your bearer token in Headers below, then run this (Ctrl-Enter) and",
    "# re-fetch the schema (the arrows at the bottom left) for completion and docs.",
    "{",
    "  me { role subject }",
    "}",
    "",
  ].join("\n");

  // The page is served at the GraphQL endpoint itself (behind any path prefix).
  var fetcher = GraphiQL.createFetcher({ url: window.location.pathname });

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      storage: storage,
      shouldPersistHeaders: false,
      isHeadersEditorEnabled: true,
      defaultEditorToolsVisibility: "headers",
      defaultHeaders: '{"Authorization": "Bearer <token>"}',
      defaultQuery: DEFAULT_QUERY,
    })
  );
})();
