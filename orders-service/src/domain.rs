//! Domain types of orders-service: what an order is and the rules its fields follow.
//!
//! Every type here is built by a `parse` function that checks raw input once; code holding a
//! value of one of these types never re-checks it ("parse, don't validate"). Parse errors are
//! [`FieldError`]s naming the request field (`items[0].quantity`), so handlers return them as
//! they are.
//!
//! - [`order`]: SKUs, quantities, item lists, orders.
//! - [`idempotency`]: `Idempotency-Key` values and request fingerprints.
//! - [`notification`]: the notification an order produces for its owner.

pub mod idempotency;
pub mod notification;
pub mod order;

pub use idempotency::{Fingerprint, IdempotencyKey};
pub use notification::OrderNotification;
pub use order::{Order, OrderId, OrderItem, OrderItems, OrderStatus, Quantity, Sku};
pub use service_kit::http::error::FieldError;
