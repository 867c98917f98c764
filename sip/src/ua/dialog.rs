//! Dialog identity (RFC 3261 §12): Call-ID plus the local and remote tags.

/// Identifies a dialog from our side: the Call-ID, our tag and the remote party's tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}
