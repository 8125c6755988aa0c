//! Privacy actions by every caller: erasure and legal holds across
//! tenants, and acknowledgements.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::UserId;
use crate::protocol::AcknowledgePolicy;

use super::input::PrivacyAct;
use super::model::*;

impl World {
    /// An erasure or a hold of `target`: only those that must be refused
    /// are attempted (a successful one would delete the model's data or
    /// change what may be erased), so each is checked to change nothing.
    pub(super) async fn privacy_act(
        &self,
        ctx: &str,
        who: Who,
        target: UserId,
        act: PrivacyAct,
    ) -> Result<Allowed, TestCaseError> {
        let exp = self.exp_manage(who, target, matches!(act, PrivacyAct::Erase));
        if exp.is_ok() {
            return Ok(Allowed::nothing());
        }
        let p = self.principal(who);
        match act {
            PrivacyAct::Erase => {
                outcome(ctx, self.tracker.erase_person(p, target).await, exp)?;
            }
            PrivacyAct::Hold => {
                let r = self.tracker.place_legal_hold(p, target, "case").await;
                outcome(ctx, r, exp)?;
            }
        }
        Ok(Allowed::nothing())
    }

    /// Acknowledges the newest policy version: recorded (and audited)
    /// once per version, in the caller's company only.
    pub(super) async fn acknowledge(
        &mut self,
        ctx: &str,
        who: Who,
    ) -> Result<Allowed, TestCaseError> {
        let (version, exp) = match who {
            Who::Owner => (1, Err("forbidden")),
            Who::User(i) => {
                let c = &self.companies[self.users[i].company];
                (c.policy.revision(), Ok(()))
            }
        };
        let p = self.principal(who);
        let r = self
            .tracker
            .acknowledge_policy(p, AcknowledgePolicy { version })
            .await;
        let (Some(answer), Who::User(i)) = (outcome(ctx, r, exp)?, who) else {
            return Ok(Allowed::nothing());
        };
        let c = self.users[i].company;
        prop_assert_eq!(&answer.policy, &self.companies[c].policy, "{}", ctx);
        let first = self.users[i].acknowledged != Some(version);
        self.users[i].acknowledged = Some(version);
        Ok(if first {
            Allowed::nothing().audited(Scope::Company(c))
        } else {
            Allowed::nothing()
        })
    }
}
