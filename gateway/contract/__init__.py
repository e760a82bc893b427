"""The public contract's types (passport.graphql): strawberry object types, enums and scalars.

A leaf room: both the schema and the resolvers import it, and it imports neither. List items
and leaf objects carry no resolvers, so strawberry resolves their fields by attribute access.
"""
