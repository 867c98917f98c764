//! Roles and the permissions each grants. Handlers ask for a [`Permission`], never a role,
//! so a new role or a finer split is a change to this table only.

use serde::{Deserialize, Serialize};

/// What a caller may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Permission {
    CaseRead,
    CaseCreate,
    CaseUpdate,
    /// Set or change a case's assignee.
    CaseAssign,
    CaseResolve,
    CaseReopen,
    /// Create API keys for integrations.
    ApiKeyCreate,
    /// Walk the audit chain.
    AuditVerify,
    /// See the live calls (`GET /api/calls`).
    ViewCalls,
    /// Pause and resume a call's recording. Agents have it too: in call-centre practice the
    /// agent taking a card number pauses the recording (PCI DSS), not a supervisor.
    ControlRecording,
}

/// A user's (or API key's) role within its tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Agent,
    Supervisor,
    Admin,
}

const AGENT: &[Permission] = &[
    Permission::CaseRead,
    Permission::CaseCreate,
    Permission::CaseUpdate,
    Permission::CaseResolve,
    Permission::ViewCalls,
    Permission::ControlRecording,
];

const SUPERVISOR: &[Permission] = &[
    Permission::CaseRead,
    Permission::CaseCreate,
    Permission::CaseUpdate,
    Permission::CaseResolve,
    Permission::CaseAssign,
    Permission::CaseReopen,
    Permission::ViewCalls,
    Permission::ControlRecording,
];

const ADMIN: &[Permission] = &[
    Permission::CaseRead,
    Permission::CaseCreate,
    Permission::CaseUpdate,
    Permission::CaseResolve,
    Permission::CaseAssign,
    Permission::CaseReopen,
    Permission::ApiKeyCreate,
    Permission::AuditVerify,
    Permission::ViewCalls,
    Permission::ControlRecording,
];

impl Role {
    pub const ALL: [Role; 3] = [Role::Agent, Role::Supervisor, Role::Admin];

    /// The permission set of this role.
    pub fn permissions(self) -> &'static [Permission] {
        match self {
            Role::Agent => AGENT,
            Role::Supervisor => SUPERVISOR,
            Role::Admin => ADMIN,
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest_and_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for p in Role::Agent.permissions() {
            assert!(Role::Supervisor.allows(*p));
        }
        for p in Role::Supervisor.permissions() {
            assert!(Role::Admin.allows(*p));
        }
        assert!(!Role::Agent.allows(Permission::CaseAssign));
        assert!(!Role::Supervisor.allows(Permission::AuditVerify));
        assert!(!Role::Supervisor.allows(Permission::ApiKeyCreate));
    }
}
