//! Id newtypes of stored resources: [`uuid_id!`](crate::uuid_id) declares one.
//!
//! Ids are UUID v7, so they are time-ordered and sort by creation. A path segment that is not
//! a UUID parses to `None`, which handlers answer with the same 404 as an id that does not
//! exist: a malformed id cannot name anything.

pub use uuid::Uuid;

/// Declares a UUID v7 id newtype with `generate`, `parse`, `as_uuid` and `Display`.
///
/// ```
/// service_kit::uuid_id!(
///     /// Id of an order.
///     pub OrderId
/// );
/// let id = OrderId::generate();
/// assert_eq!(OrderId::parse(&id.to_string()), Some(id));
/// assert_eq!(OrderId::parse("not-an-id"), None);
/// ```
#[macro_export]
macro_rules! uuid_id {
    ($(#[$meta:meta])* $vis:vis $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis struct $name($crate::id::Uuid);

        impl $name {
            /// A new id.
            #[must_use]
            pub fn generate() -> Self {
                Self($crate::id::Uuid::now_v7())
            }

            /// Parses an id from a path segment; `None` for anything that is not a UUID.
            #[must_use]
            pub fn parse(raw: &str) -> Option<Self> {
                $crate::id::Uuid::try_parse(raw).ok().map(Self)
            }

            /// The UUID.
            #[must_use]
            pub fn as_uuid(&self) -> $crate::id::Uuid {
                self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}
