//! Recording and alerting rules in Prometheus' rule-file format: loading and checking
//! files (`file`), templates (`template`), evaluation (`eval`, `recording`, `alert`,
//! `group`), the running groups of a server (`manager`), promtool-format unit tests
//! (`unittest`), and sending alerts to Alertmanager and webhooks (`notify`).

pub mod alert;
pub mod eval;
pub mod file;
pub mod group;
pub mod manager;
pub mod notify;
pub mod recording;
pub mod template;
pub mod unittest;

pub use alert::{AlertState, Notification};
pub use manager::{AlertSender, Manager, Settings};
