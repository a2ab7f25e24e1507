//! The notification a placed order produces for its owner.
//!
//! It is built when the order is placed and stored, serialised, in the outbox with the order,
//! so what is delivered later is exactly what was decided at order time. The shape is the body
//! of notifications-service's `POST /v1/notifications`.

use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::Order;

/// Body of the notification sent for a placed order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderNotification {
    /// The outbox record id: notifications-service deduplicates on it, so redelivering the
    /// same record never creates a second notification.
    pub event_id: String,
    /// The order's owner.
    pub recipient: String,
    /// Always [`OrderNotification::KIND`].
    pub kind: &'static str,
    /// Text for the user.
    pub message: String,
    /// Details for clients: order id, item count, total units.
    pub data: serde_json::Value,
}

impl OrderNotification {
    /// The `kind` of order notifications.
    pub const KIND: &'static str = "order.placed";

    /// The notification for `order`, identified by `event_id`.
    #[must_use]
    pub fn for_order(event_id: Uuid, order: &Order) -> Self {
        let item_count = order.items.as_slice().len();
        let total_quantity = order.items.total_quantity();
        Self {
            event_id: event_id.to_string(),
            recipient: order.owner.clone(),
            kind: Self::KIND,
            message: format!(
                "Your order {} with {item_count} item(s), {total_quantity} unit(s) in total, was placed.",
                order.id
            ),
            data: json!({
                "order_id": order.id.to_string(),
                "item_count": item_count,
                "total_quantity": total_quantity,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderId, OrderItems, OrderStatus};

    #[test]
    fn the_notification_describes_the_order() {
        let order = Order {
            id: OrderId::generate(),
            owner: "user-1".to_owned(),
            items: OrderItems::parse([("A", 2), ("B", 3)]).unwrap(),
            status: OrderStatus::Placed,
            created_at: 0,
        };
        let event_id = Uuid::now_v7();
        let notification = OrderNotification::for_order(event_id, &order);
        assert_eq!(notification.event_id, event_id.to_string());
        assert_eq!(notification.recipient, "user-1");
        assert_eq!(notification.data["order_id"], order.id.to_string());
        assert_eq!(notification.data["item_count"], 2);
        assert_eq!(notification.data["total_quantity"], 5);
        assert!(notification.message.contains(&order.id.to_string()));
    }
}
