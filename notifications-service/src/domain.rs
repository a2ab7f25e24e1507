//! Domain types of notifications-service: what a notification is and the rules its fields
//! follow.
//!
//! Every type here is built by a `parse` function that checks the raw input once; code that
//! holds a value of one of these types never re-checks it ("parse, don't validate"). Parse
//! errors are [`FieldError`]s naming the request field, so handlers can return them as they are.
//!
//! - [`notification`]: the fields of a new notification and the stored notification.

pub mod notification;

pub use notification::{EventId, Kind, Message, NewNotification, Notification, NotificationId, Recipient};
pub use service_kit::http::error::FieldError;
