//! Recording and alerting rules in Prometheus' rule-file format, over PromQL or (Loki's
//! ruler) LogQL: loading and checking files (`file`), expressions (`expr`), templates
//! (`template`), evaluation (`eval`, `recording`, `alert`, `group`), the running groups of a server (`manager`), promtool-format unit tests
//! (`unittest`), and sending alerts to Alertmanager and webhooks (`notify`).

pub mod alert;
pub mod eval;
pub mod expr;
pub mod file;
pub mod group;
pub mod manager;
pub mod notify;
pub mod recording;
pub mod template;
pub mod unittest;

pub use alert::{AlertState, Notification};
pub use manager::{AlertSender, LogRules, Manager, Settings};
