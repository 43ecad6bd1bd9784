//! The node agent's parts (`lookout agent`): host metrics read from /proc and /sys with
//! node_exporter's names, log tailing (files and the journal) with remembered positions,
//! the local OTLP receiver, and the forwarder that ships what the agent gathers to a
//! server through disk-backed queues (one per signal).
//! The binary wires them together in `src/agent.rs`.

pub mod forward;
pub mod host;
pub mod otlp;
pub mod queue;
pub mod tail;
