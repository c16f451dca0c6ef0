//! One module per scenario: its flags, its run, its report. Each prints a short human
//! summary and then one JSON line, `{"scenario": "<name>", …}`, with every figure.

pub mod churn;
pub mod fanout;
pub mod files;
pub mod history;
pub mod idle;
pub mod rooms;
pub mod search;
pub mod soak;
