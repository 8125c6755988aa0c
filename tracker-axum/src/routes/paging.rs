//! The paging parameters of each kind of list, for the document: a list's
//! cursor has the shape of its key (`tracker_core::paging`), and any cursor
//! of that shape is a place in the list. The handlers read them as
//! `tracker_core::PageRequest`.

use utoipa::IntoParams;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use tracker_core::paging::{ID_CURSOR_PATTERN, SEQ_CURSOR_PATTERN, TIME_CURSOR_PATTERN};

fn cursor(pattern: &str, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .build()
}

fn id_cursor() -> Object {
    cursor(
        ID_CURSOR_PATTERN,
        "Start after this id: the `next_cursor` of the page before.",
    )
}

fn seq_cursor() -> Object {
    cursor(
        SEQ_CURSOR_PATTERN,
        "Start after this sequence number: the `next_cursor` of the page before.",
    )
}

fn time_cursor() -> Object {
    cursor(
        TIME_CURSOR_PATTERN,
        "Start after this (time, id): the `next_cursor` of the page before.",
    )
}

macro_rules! page_params {
    ($($(#[$doc:meta])* $name:ident => $cursor:ident;)*) => {$(
        $(#[$doc])*
        #[derive(IntoParams)]
        #[into_params(parameter_in = Query)]
        #[allow(dead_code)] // Only its parameters' schemas are used.
        pub(crate) struct $name {
            #[param(schema_with = $cursor)]
            cursor: Option<String>,
            /// Page size, 1 to 500 (default 50).
            #[param(minimum = 1, maximum = 500)]
            limit: Option<u32>,
        }
    )*};
}

page_params! {
    /// Paging of a list ordered by id.
    IdPage => id_cursor;
    /// Paging of a list ordered by sequence number.
    SeqPage => seq_cursor;
    /// Paging of a list ordered by time, then id.
    TimePage => time_cursor;
}
