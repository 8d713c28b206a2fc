//! Conformance checks of the queries the engine polls: runnable steps, approvals, audit.

use super::*;

/// Runnable steps are the ready ones and the running ones whose lease ended, of active plans
/// only; the index follows every save.
pub async fn runnable_steps_and_leases(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let mut plan = sample_plan(&channel, now);
    let mut expired = sample_step("expired", StepState::Running);
    expired.lease_owner = Some("worker-1".to_owned());
    expired.lease_until = Some(Timestamp(now.0 - 1000));
    let mut live = sample_step("live", StepState::Running);
    live.lease_owner = Some("worker-2".to_owned());
    live.lease_until = Some(now.after(millis(60_000)));
    plan.steps
        .extend([expired, live, sample_step("waiting", StepState::Waiting)]);
    assert_eq!(
        save(store, &plan, None, &Effects::none(), now).await,
        SaveOutcome::Saved,
        "a new plan must be saved"
    );
    assert_eq!(
        runnable_of(store, &plan.id, now).await,
        [StepKey::from("check"), StepKey::from("expired")],
        "ready steps and running steps with an expired lease are runnable; a live lease is not"
    );
    assert_eq!(
        runnable_of(store, &plan.id, now.after(millis(120_000))).await,
        [
            StepKey::from("check"),
            StepKey::from("expired"),
            StepKey::from("live")
        ],
        "a lease that has run out makes its step runnable"
    );

    let mut claimed = plan.clone();
    for key in ["check", "expired"] {
        let step = claimed
            .step_mut(&StepKey::from(key))
            .expect("the fixture has this step");
        step.state = StepState::Running;
        step.lease_owner = Some("worker-3".to_owned());
        step.lease_until = Some(now.after(millis(60_000)));
    }
    assert_eq!(
        save(store, &claimed, Some(1), &Effects::none(), now).await,
        SaveOutcome::Saved,
        "a claim must be saved"
    );
    assert!(
        runnable_of(store, &plan.id, now).await.is_empty(),
        "claimed steps with live leases are not runnable"
    );

    for state in [PlanState::Cancelled, PlanState::Parked] {
        let inactive = PlanRecord {
            state,
            ..sample_plan(&channel, now)
        };
        assert_eq!(
            save(store, &inactive, None, &Effects::none(), now).await,
            SaveOutcome::Saved,
            "a new plan must be saved"
        );
        assert!(
            runnable_of(store, &inactive.id, now).await.is_empty(),
            "the steps of a plan that is not active are not runnable"
        );
    }
}

/// Pending approvals past their expiry, open (pending or parked) approvals, and the plan an
/// approval belongs to, all following every save.
pub async fn approval_queries(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let plan = sample_plan(&channel, now);
    let approval = plan.approvals[0].id.clone();
    let past_expiry = now.after(Duration::from_secs(7200));
    assert_eq!(
        save(store, &plan, None, &Effects::none(), now).await,
        SaveOutcome::Saved,
        "a new plan must be saved"
    );

    assert!(
        !expired_at(store, now).await.contains(&plan.id),
        "an approval is not expired before its expiry"
    );
    assert!(
        expired_at(store, past_expiry).await.contains(&plan.id),
        "a pending approval past its expiry is expired"
    );
    assert!(
        open_plans(store).await.contains(&plan.id),
        "a pending approval is open"
    );
    let owner = store
        .plan_of_approval(&approval)
        .await
        .expect("Store::plan_of_approval failed");
    assert_eq!(
        owner.map(|p| p.id),
        Some(plan.id.clone()),
        "an approval leads to its plan"
    );
    assert_eq!(
        store
            .plan_of_approval(&ApprovalId::new())
            .await
            .expect("Store::plan_of_approval failed"),
        None,
        "an unknown approval has no plan"
    );

    let mut parked = PlanRecord {
        state: PlanState::Parked,
        ..plan.clone()
    };
    parked.approvals[0].state = ApprovalState::Parked;
    assert_eq!(
        save(store, &parked, Some(1), &Effects::none(), now).await,
        SaveOutcome::Saved,
        "an update must be saved"
    );
    assert!(
        open_plans(store).await.contains(&plan.id),
        "a parked approval is open"
    );
    assert!(
        !expired_at(store, past_expiry).await.contains(&plan.id),
        "a parked approval does not expire again"
    );

    let mut settled = PlanRecord {
        state: PlanState::Active,
        ..parked.clone()
    };
    settled.approvals[0].state = ApprovalState::Approved;
    settled.approvals[0].settled_at = Some(now);
    assert_eq!(
        save(store, &settled, Some(2), &Effects::none(), now).await,
        SaveOutcome::Saved,
        "an update must be saved"
    );
    assert!(
        !open_plans(store).await.contains(&plan.id),
        "a settled approval is not open"
    );
    assert!(
        !expired_at(store, past_expiry).await.contains(&plan.id),
        "a settled approval does not expire"
    );
    let owner = store
        .plan_of_approval(&approval)
        .await
        .expect("Store::plan_of_approval failed");
    assert_eq!(
        owner.map(|p| p.revision),
        Some(3),
        "a settled approval still leads to its (current) plan"
    );
}

/// Audit events are sealed in order into a chain that reads back intact: every appended
/// event reads back unchanged, and [`audit::verify`] finds the chain intact and longer.
pub async fn audit_chain_intact(store: &dyn Store) {
    let now = now();
    let before = audit_len(store).await;
    let subject = format!("conf-{}", new_short_id(8));
    let events = [
        AuditEvent::new(
            "conformance.first",
            "alice",
            subject.as_str(),
            json!({ "n": 1, "nested": { "list": [1, "two", null, true] }, "text": "héllo \"quoted\"\n" }),
        ),
        AuditEvent::new(
            "conformance.second",
            "unknown:conf:u-9",
            subject.as_str(),
            Value::Null,
        ),
        AuditEvent::new("conformance.third", "openmog", subject.as_str(), json!([])),
    ];
    let mut effects = Effects::none();
    for event in &events {
        effects.audit(event.clone());
    }
    store
        .apply(&effects, now)
        .await
        .expect("Store::apply failed");

    let after = audit_len(store).await;
    assert!(
        after >= before + 3,
        "appending must lengthen the audit chain ({before} -> {after})"
    );
    let records = audit_about(store, before + 1, &subject).await;
    let read: Vec<_> = records.iter().map(|record| &record.event).collect();
    assert_eq!(
        read,
        events.iter().collect::<Vec<_>>(),
        "audit events must read back unchanged, in order"
    );
    for pair in records.windows(2) {
        assert!(
            pair[0].seq < pair[1].seq,
            "audit records must be numbered in order"
        );
    }
    for record in &records {
        assert!(
            record.is_intact(),
            "audit record {} must match its hash",
            record.seq
        );
        assert_eq!(
            record.at, now,
            "audit record {} keeps the time it was appended",
            record.seq
        );
        let page = store
            .audit_records(record.seq, 1)
            .await
            .expect("Store::audit_records failed");
        assert_eq!(
            page.as_slice(),
            std::slice::from_ref(record),
            "audit_records must start at `from`"
        );
    }
}
