//! Newtype ids. Server-made ids are UUIDv7 (time-ordered, so B-tree inserts
//! append); ids made by agents for idempotent ingest are whatever UUID the
//! client sent.

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        // A UUID on the wire: the schema is the inner one, `string`/`uuid`.
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A new time-ordered (v7) id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            /// The all-zero id, never made by [`new`](Self::new).
            pub const fn nil() -> Self {
                Self(uuid::Uuid::nil())
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(id: uuid::Uuid) -> Self {
                Self(id)
            }

            /// The inner UUID.
            pub const fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for uuid::Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

id_type!(
    /// Identifies a [`Plan`](crate::Plan).
    PlanId
);
id_type!(
    /// Identifies a [`Company`](crate::Company), the tenant.
    CompanyId
);
id_type!(
    /// Identifies a [`User`](crate::User).
    UserId
);
id_type!(
    /// Identifies a [`Team`](crate::Team).
    TeamId
);
id_type!(
    /// Identifies a [`Subscription`](crate::Subscription) row.
    SubscriptionId
);
id_type!(
    /// Identifies a [`WorkSession`](crate::WorkSession); chosen by the agent.
    WorkSessionId
);
id_type!(
    /// Identifies an [`ActivityEvent`](crate::ActivityEvent); chosen by the agent.
    ActivityId
);
id_type!(
    /// Identifies a [`Screenshot`](crate::Screenshot); chosen by the agent.
    ScreenshotId
);
id_type!(
    /// Identifies a [`Task`](crate::Task).
    TaskId
);
id_type!(
    /// Identifies a [`CorrectionRequest`](crate::CorrectionRequest).
    CorrectionId
);
id_type!(
    /// Identifies an [`AuditEvent`](crate::AuditEvent).
    AuditEventId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered_and_round_trip() {
        let a = CompanyId::new();
        let b = CompanyId::new();
        assert!(a < b, "v7 ids made later sort later");
        let parsed: CompanyId = a.to_string().parse().unwrap();
        assert_eq!(parsed, a);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, format!("\"{a}\""));
    }
}
id_type!(
    /// Identifies an [`Alert`](crate::notify::Alert).
    AlertId
);
id_type!(
    /// Identifies a [`DeliveryRecord`](crate::notify::DeliveryRecord).
    DeliveryId
);
