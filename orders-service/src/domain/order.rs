//! Orders and their items.
//!
//! SKU format: 1–32 characters, uppercase ASCII letters, digits and `-`, starting with a
//! letter or digit (`^[A-Z0-9][A-Z0-9-]{0,31}$`). Lowercase is refused rather than folded, so
//! the stored SKU is exactly what the client sent. Quantities are 1–1000 per item, an order has
//! 1–50 items, and a SKU appears at most once per order (send one item with the summed
//! quantity instead).

use std::collections::HashSet;

use serde::Serialize;

use super::FieldError;

/// A stock-keeping unit code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Sku(String);

impl Sku {
    /// Longest accepted SKU.
    pub const MAX_LEN: usize = 32;

    /// Parses a SKU; the error message is meant for the `sku` field of a request.
    ///
    /// # Errors
    /// The reason the value is not a SKU.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut bytes = raw.bytes();
        let valid = raw.len() <= Self::MAX_LEN
            && bytes.next().is_some_and(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "must be 1-{} characters of uppercase letters, digits and '-', starting with a letter or digit",
                Self::MAX_LEN
            ))
        }
    }
}

impl AsRef<str> for Sku {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// How many units of one SKU: 1–1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Quantity(u32);

impl Quantity {
    /// Largest quantity of one item.
    pub const MAX: u32 = 1000;

    /// Parses a requested quantity.
    ///
    /// # Errors
    /// A message for the `quantity` field when out of range.
    pub fn parse(raw: i64) -> Result<Self, String> {
        u32::try_from(raw)
            .ok()
            .filter(|q| (1..=Self::MAX).contains(q))
            .map(Self)
            .ok_or_else(|| format!("must be between 1 and {}", Self::MAX))
    }

    /// The number of units.
    #[must_use]
    pub fn get(self) -> u32 {
        self.0
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderItem {
    /// What.
    pub sku: Sku,
    /// How many.
    pub quantity: Quantity,
}

/// The items of an order: 1–50, each SKU once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItems(Vec<OrderItem>);

impl OrderItems {
    /// Most items in one order.
    pub const MAX_ITEMS: usize = 50;

    /// Parses `(sku, quantity)` pairs in request order, reporting every problem at once with
    /// its path (`items`, `items[3].sku`, `items[0].quantity`).
    ///
    /// # Errors
    /// One [`FieldError`] per problem.
    pub fn parse<'a>(raw: impl IntoIterator<Item = (&'a str, i64)>) -> Result<Self, Vec<FieldError>> {
        let raw: Vec<_> = raw.into_iter().collect();
        let mut errors = Vec::new();
        if raw.is_empty() || raw.len() > Self::MAX_ITEMS {
            errors.push(FieldError::new("items", format!("must contain between 1 and {} items", Self::MAX_ITEMS)));
        }
        let mut items = Vec::with_capacity(raw.len());
        let mut seen = HashSet::new();
        // Past the item limit the list is refused anyway; checking thousands of entries would
        // only produce thousands of details.
        for (index, (sku, quantity)) in raw.into_iter().enumerate().take(Self::MAX_ITEMS) {
            let sku = Sku::parse(sku).map_err(|m| FieldError::new(format!("items[{index}].sku"), m));
            let quantity =
                Quantity::parse(quantity).map_err(|m| FieldError::new(format!("items[{index}].quantity"), m));
            match (sku, quantity) {
                (Ok(sku), Ok(quantity)) => {
                    if seen.insert(sku.clone()) {
                        items.push(OrderItem { sku, quantity });
                    } else {
                        errors.push(FieldError::new(
                            format!("items[{index}].sku"),
                            "appears more than once; send one item with the total quantity",
                        ));
                    }
                }
                (sku, quantity) => errors.extend(sku.err().into_iter().chain(quantity.err())),
            }
        }
        if errors.is_empty() { Ok(Self(items)) } else { Err(errors) }
    }

    /// Rebuilds items read back from the database (already validated when stored).
    #[must_use]
    pub(crate) fn from_stored(items: Vec<OrderItem>) -> Self {
        Self(items)
    }

    /// The items in order.
    #[must_use]
    pub fn as_slice(&self) -> &[OrderItem] {
        &self.0
    }

    /// Units over all items.
    #[must_use]
    pub fn total_quantity(&self) -> u64 {
        self.0.iter().map(|i| u64::from(i.quantity.get())).sum()
    }
}

service_kit::uuid_id!(
    /// Id of an order.
    pub OrderId
);

/// Where an order is in its life. Orders are placed and then fulfilled elsewhere; this service
/// only ever creates `placed` orders, and the column exists so later states need no migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Accepted and stored.
    Placed,
}

impl OrderStatus {
    /// The stored and serialised form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
        }
    }

    /// Parses the stored form.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "placed" => Some(Self::Placed),
            _ => None,
        }
    }
}

/// A stored order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Its id.
    pub id: OrderId,
    /// `sub` of the user who placed it.
    pub owner: String,
    /// What was ordered.
    pub items: OrderItems,
    /// Its status.
    pub status: OrderStatus,
    /// When it was placed (Unix milliseconds).
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn skus_follow_the_documented_format() {
        for good in ["A", "0", "ABC-123", "X-", &"Z".repeat(32)] {
            assert!(Sku::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "-A", "abc", "AB C", "AB_C", "ÄBC", &"Z".repeat(33)] {
            assert!(Sku::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantities_are_bounded() {
        assert_eq!(Quantity::parse(1).unwrap().get(), 1);
        assert_eq!(Quantity::parse(1000).unwrap().get(), 1000);
        for bad in [0, -1, 1001, i64::MAX, i64::MIN] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn item_lists_report_every_problem_with_its_path() {
        let errors = OrderItems::parse([("A-1", 0), ("bad", 5), ("B-2", 2000), ("A-1", 1)]).unwrap_err();
        assert_eq!(fields(&errors), ["items[0].quantity", "items[1].sku", "items[2].quantity"]);
        let errors = OrderItems::parse([("A-1", 1), ("A-1", 2)]).unwrap_err();
        assert_eq!(fields(&errors), ["items[1].sku"]);
    }

    #[test]
    fn item_counts_are_bounded() {
        assert_eq!(fields(&OrderItems::parse([]).unwrap_err()), ["items"]);
        let skus: Vec<String> = (0..51).map(|i| format!("SKU-{i}")).collect();
        let too_many = OrderItems::parse(skus.iter().map(|s| (s.as_str(), 1))).unwrap_err();
        assert_eq!(fields(&too_many), ["items"]);
        let fifty = OrderItems::parse(skus.iter().take(50).map(|s| (s.as_str(), 2))).unwrap();
        assert_eq!(fifty.as_slice().len(), 50);
        assert_eq!(fifty.total_quantity(), 100);
    }

    #[test]
    fn statuses_round_trip() {
        assert_eq!(OrderStatus::parse(OrderStatus::Placed.as_str()), Some(OrderStatus::Placed));
        assert_eq!(OrderStatus::parse("shipped"), None);
    }
}
