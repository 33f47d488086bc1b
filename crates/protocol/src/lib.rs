//! # verivali-protocol
//!
//! The sync wire types of protocol v1 (DESIGN.md §5): session, push with its ops, pull with its
//! changes, attachments, review, and RFC 9457 problem details. Serde only, no I/O.
//!
//! Field names are the contract: within v1 fields may be added, never renamed or removed. The
//! `golden/` folder holds one JSON example of every message, checked by the tests, so that another
//! client can be written from them.

pub mod admin;
pub mod assignment;
pub mod attachment;
pub mod cycle;
pub mod op;
pub mod problem;
pub mod pull;
pub mod review;
pub mod session;

pub use attachment::{AttachmentStatus, UPLOAD_OFFSET};
pub use op::{
    HouseholdProposal, Op, OpBody, OpError, OpResult, OpStatus, OutgoingOp, OutgoingPayload,
    PushRequest, PushResponse, write_push,
};
pub use problem::Problem;
pub use pull::{Change, ChangeKind, PullResponse};
pub use session::{DeviceInfo, SessionRequest, SessionResponse, UserInfo};

/// Protocol generation, part of every path (`/api/v1/...`).
pub const PROTOCOL: &str = "v1";

/// Schema version of the ops this build writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a message could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The op type is not one of v1's.
    #[error("unknown op type {0:?}")]
    UnknownOpType(String),
    /// The payload does not have the fields the type needs.
    #[error("payload of {op_type} is invalid: {detail}")]
    Payload {
        op_type: String,
        /// What serde said.
        detail: String,
    },
    /// A change's data does not match its kind.
    #[error("data of {kind} change is invalid: {detail}")]
    ChangeData {
        /// The change kind.
        kind: String,
        /// What serde said.
        detail: String,
    },
}

impl ProtocolError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::UnknownOpType(_) => "op.unknown_type",
            ProtocolError::Payload { .. } => "op.payload",
            ProtocolError::ChangeData { .. } => "change.data",
        }
    }
}
