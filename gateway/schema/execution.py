"""Plain-data completion: subtrees of stored attributes completed without per-field machinery.

Below a section's resolver every field of the passport is a stored attribute of a dataclass
(strawberry's default resolver, no arguments). graphql-core still completes each one in full:
a resolve-info object, a resolver call, an awaitable check and a recursive completion, about
4 us per field and some 400 fields per passport. Here, for such a subtree, a plan is built once
per request and per selection (like graphql-core's own sub-field memo) and run as plain
attribute reads and the types' own output coercion.

Documents without directives (the frontends' queries) have plans that do not depend on the
variables, so those are kept across requests in a table per operation, keyed by the identity
of the parsed field nodes (``gateway.schema.documents`` hands back the same document for the
same text).

The plan covers only the ordinary case. Anything else (a null in a non-null field, a value
the scalar refuses, an argument, a directive, an abstract type) makes the subtree go through
graphql-core's general algorithm instead, which then reports exactly what it always reports.
Reading attributes has no side effects, so doing the work twice in that rare case is safe.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from graphql import (
    FieldNode,
    GraphQLList,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

Plan = Callable[[Any], dict[str, Any]]

# Kinds of step in a plan.
_TYPENAME, _LEAF, _OBJECT, _LEAF_LIST, _OBJECT_LIST = range(5)
# graphql-core's marker for an absent value, and strawberry's attribute on basic resolvers.
_ABSENT = Undefined
_UNKNOWN = object()  # the shared plan table not looked up yet
_BASIC = "_is_default"


# (object type, ids of the field nodes) -> (the nodes, kept alive so no id is reused; the plan
# or None when that selection is not plain data)
PlanTable = dict[tuple, tuple[tuple[FieldNode, ...], Plan | None]]


class _SharedPlans:
    """Plan tables of directive-free operations, kept across requests.

    Bounded by operations (least recently used dropped), so memory stays within a fixed
    number of documents' worth of plans whatever queries clients send.
    """

    def __init__(self, max_operations: int) -> None:
        self.max_operations = max_operations
        # id of an operation -> (the operation, kept alive; its table, or None when its plans
        # depend on the variables)
        self._tables: OrderedDict[int, tuple[OperationDefinitionNode, PlanTable | None]] = (
            OrderedDict()
        )

    def table(
        self, operation: OperationDefinitionNode, fragments: dict[str, Any]
    ) -> PlanTable | None:
        """The plan table of ``operation``, or None when it carries directives."""
        known = self._tables.get(id(operation))
        if known is not None and known[0] is operation:
            self._tables.move_to_end(id(operation))
            return known[1]
        plain = not operation.directives and not _has_directives(operation.selection_set)
        plain = plain and all(
            not f.directives and not _has_directives(f.selection_set) for f in fragments.values()
        )
        table: PlanTable | None = {} if plain else None
        self._tables[id(operation)] = (operation, table)
        while len(self._tables) > self.max_operations:
            self._tables.popitem(last=False)
        return table


_SHARED = _SharedPlans(max_operations=256)


class _General(Exception):
    """This value needs graphql-core's general algorithm (a null where none is allowed, ...)."""


class PlainDataExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """strawberry's execution context, completing plain-data subtrees by plan."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (object type, id of the field group) -> (the field group, kept alive; its plan or None)
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[FieldDetailsList, Plan | None]] = {}
        # The operation's shared plan table (None: its plans hold for this request only).
        self._table: PlanTable | object | None = _UNKNOWN

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        """Complete by plan when the subtree is plain data; otherwise as graphql-core does."""
        plan = self._plan(return_type, field_details_list)
        if plan is not None:
            try:
                return plan(result)
            except Exception:  # noqa: S110 - the general algorithm below reports it
                pass
        return super().complete_object_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        """Complete a list of plain-data objects by plan, one call for the whole list."""
        item_type = return_type.of_type
        items_required = is_non_null_type(item_type)
        if items_required:
            item_type = item_type.of_type  # type: ignore[attr-defined]
        if is_object_type(item_type) and isinstance(result, list):
            plan = self._plan(item_type, field_details_list)  # type: ignore[arg-type]
            if plan is not None:
                try:
                    return _complete_items(result, plan, items_required)
                except Exception:  # noqa: S110 - the general algorithm below reports it
                    pass
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _plan(self, object_type: GraphQLObjectType, group: FieldDetailsList) -> Plan | None:
        """The plan completing ``group`` on ``object_type``, or None when it is not plain data."""
        key = (object_type, id(group))
        known = self._plans.get(key)
        if known is not None:
            return known[1]
        if self._table is _UNKNOWN:
            self._table = _SHARED.table(self.operation, self.fragment_definitions)
        table = self._table
        if table is None:
            plan = self._build(object_type, group)
        else:
            nodes = tuple(details.node for details in group)
            shared_key = (object_type, *map(id, nodes))
            shared = table.get(shared_key)
            if shared is not None and all(a is b for a, b in zip(shared[0], nodes, strict=True)):
                plan = shared[1]
            else:
                plan = self._build(object_type, group)
                table[shared_key] = (nodes, plan)
        self._plans[key] = (group, plan)
        return plan

    def _build(self, object_type: GraphQLObjectType, group: FieldDetailsList) -> Plan | None:
        # Middleware wraps every resolver (strawberry's manager is empty unless an extension
        # resolves per field, which this schema never has); then the general path must run.
        middleware = self.middleware_manager
        if object_type.is_type_of is not None or (middleware and middleware.middlewares):
            return None
        grouped, new_defer_usages, _ = self.collect_subfields(object_type, group)
        if new_defer_usages:
            return None
        steps = []
        for response_name, fields in grouped.items():
            step = self._step(object_type, response_name, fields)
            if step is None:
                return None
            steps.append(step)
        return _compile(tuple(steps))

    def _step(
        self, object_type: GraphQLObjectType, response_name: str, fields: FieldDetailsList
    ) -> tuple | None:
        """One response key of a plan, or None when that field is not a stored attribute."""
        name = fields[0].node.name.value
        if name == "__typename":
            return (response_name, None, _TYPENAME, False, False, object_type.name)
        if any(f.node.arguments or f.node.directives for f in fields):
            return None
        field_def = self.schema.get_field(object_type, name)
        if field_def is None or field_def.args or not getattr(field_def.resolve, _BASIC, False):
            return None
        definition = field_def.extensions.get("strawberry-definition")
        if definition is None or definition.default_resolver is not getattr:
            return None
        attribute = definition.python_name
        field_type = field_def.type
        required = is_non_null_type(field_type)
        if required:
            field_type = field_type.of_type  # type: ignore[attr-defined]
        if is_leaf_type(field_type):
            return (
                response_name,
                attribute,
                _LEAF,
                required,
                False,
                field_type.coerce_output_value,
            )  # type: ignore[attr-defined]
        if is_object_type(field_type):
            plan = self._plan(field_type, fields)  # type: ignore[arg-type]
            return (
                None if plan is None else (response_name, attribute, _OBJECT, required, False, plan)
            )
        if not is_list_type(field_type):
            return None
        item_type = field_type.of_type  # type: ignore[attr-defined]
        items_required = is_non_null_type(item_type)
        if items_required:
            item_type = item_type.of_type
        if is_leaf_type(item_type):
            coerce = item_type.coerce_output_value
            return (response_name, attribute, _LEAF_LIST, required, items_required, coerce)
        if is_object_type(item_type):
            plan = self._plan(item_type, fields)
            if plan is not None:
                return (response_name, attribute, _OBJECT_LIST, required, items_required, plan)
        return None


class QuietExecutionContext(PlainDataExecutionContext):
    """The same, for a schema without introspection: a variable that does not coerce gets an
    error naming no other enum value or input field ("Did you mean ...?")."""

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        """graphql-core's build, with its suggestions hidden."""
        kwargs["hide_suggestions"] = True
        return super().build(*args, **kwargs)


def _compile(steps: tuple[tuple, ...]) -> Plan:
    """The completion function of one selection on one object type."""

    def complete(source: Any) -> dict[str, Any]:
        completed: dict[str, Any] = {}
        for response_name, attribute, kind, required, items_required, convert in steps:
            if kind == _TYPENAME:
                completed[response_name] = convert
                continue
            value = getattr(source, attribute)
            if value is None:
                if required:
                    raise _General
                completed[response_name] = None
            elif isinstance(value, Exception):  # graphql-core raises these as field errors
                raise _General
            elif kind == _LEAF:
                coerced = convert(value)
                if coerced is None or coerced is _ABSENT:
                    raise _General
                completed[response_name] = coerced
            elif kind == _OBJECT:
                completed[response_name] = convert(value)
            elif not isinstance(value, list | tuple):
                raise _General
            elif kind == _OBJECT_LIST:
                completed[response_name] = _complete_items(value, convert, items_required)
            else:
                completed[response_name] = [
                    _coerced(convert, item) if item is not None else _null_item(items_required)
                    for item in value
                ]
        return completed

    return complete


def _has_directives(selection_set: SelectionSetNode | None) -> bool:
    """Whether any selection below ``selection_set`` carries a directive (@skip, @include)."""
    if selection_set is None:
        return False
    return any(
        selection.directives or _has_directives(getattr(selection, "selection_set", None))
        for selection in selection_set.selections
    )


def _complete_items(items: list | tuple, plan: Plan, items_required: bool) -> list[Any]:
    """Each item by ``plan``; a null item only where the list allows it."""
    return [plan(item) if item is not None else _null_item(items_required) for item in items]


def _coerced(coerce: Callable[[Any], Any], value: Any) -> Any:
    """A list item's output value, or the general algorithm when the type refuses it."""
    if isinstance(value, Exception):
        raise _General
    coerced = coerce(value)
    if coerced is None or coerced is _ABSENT:
        raise _General
    return coerced


def _null_item(items_required: bool) -> None:
    """A null list item, allowed only in a list of nullable items."""
    if items_required:
        raise _General
    return None
