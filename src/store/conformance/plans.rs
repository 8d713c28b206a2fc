//! Conformance checks of plan saves: new plans, optimistic concurrency, listings, and
//! effects that commit with the save.

use super::*;

/// A new plan is saved at revision 1 and reads back unchanged; saving it as new again, or
/// saving another plan for the same request, conflicts.
pub async fn save_new_plan_and_duplicate_request(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let plan = sample_plan(&channel, now);
    let outcome = save(store, &plan, None, &Effects::none(), now).await;
    assert_eq!(outcome, SaveOutcome::Saved, "a new plan must be saved");
    let expected = PlanRecord {
        revision: 1,
        ..plan.clone()
    };
    assert_eq!(
        load(store, &plan.id).await,
        expected,
        "a new plan must read back unchanged, at revision 1"
    );

    let outcome = save(store, &plan, None, &Effects::none(), now).await;
    assert_eq!(
        outcome,
        SaveOutcome::Conflict,
        "saving an existing plan as new must conflict"
    );

    let twin = PlanRecord {
        request_id: plan.request_id.clone(),
        ..sample_plan(&channel, now)
    };
    let outcome = save(store, &twin, None, &Effects::none(), now).await;
    assert_eq!(
        outcome,
        SaveOutcome::Conflict,
        "a second plan for the same request must conflict"
    );
    assert_eq!(
        store.plan(&twin.id).await.expect("Store::plan failed"),
        None,
        "a conflicting plan must not be stored"
    );
    assert_eq!(
        load(store, &plan.id).await,
        expected,
        "a conflict must leave the stored plan alone"
    );

    // Ids are short and random: another request's plan may draw a taken id. That is an
    // error (the caller draws again), never a conflict, which would mean "this request
    // is planned already" and drop the request.
    let same_id = PlanRecord {
        id: plan.id.clone(),
        ..sample_plan(&channel, now)
    };
    assert!(
        store
            .save_plan(&same_id, None, &Effects::none(), now)
            .await
            .is_err(),
        "a new plan whose id another request's plan has must be an error"
    );
    let mut same_approval = sample_plan(&channel, now);
    same_approval.approvals[0].id = plan.approvals[0].id.clone();
    for step in &mut same_approval.steps {
        if step.approval.is_some() {
            step.approval = Some(plan.approvals[0].id.clone());
        }
    }
    assert!(
        store
            .save_plan(&same_approval, None, &Effects::none(), now)
            .await
            .is_err(),
        "a new plan whose approval id another plan has must be an error"
    );
    assert_eq!(
        store
            .plan(&same_approval.id)
            .await
            .expect("Store::plan failed"),
        None,
        "a refused plan must not be stored"
    );
    assert_eq!(
        load(store, &plan.id).await,
        expected,
        "a refused plan must leave the stored one alone"
    );
    assert_eq!(
        store
            .plan(&PlanId::new())
            .await
            .expect("Store::plan failed"),
        None,
        "an unknown plan is None"
    );
}

/// A save with the stored revision succeeds and bumps it (whatever the record's own
/// `revision` field says); a save with a stale revision, or of an unknown plan, conflicts.
pub async fn save_plan_optimistic_concurrency(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let plan = sample_plan(&channel, now);
    assert_eq!(
        save(store, &plan, None, &Effects::none(), now).await,
        SaveOutcome::Saved,
        "a new plan must be saved"
    );

    let v2 = PlanRecord {
        title: "second".to_owned(),
        updated_at: now.after(millis(1)),
        ..plan.clone()
    };
    assert_eq!(
        save(store, &v2, Some(1), &Effects::none(), now).await,
        SaveOutcome::Saved,
        "a save with the current revision must succeed"
    );
    let stored = load(store, &plan.id).await;
    assert_eq!(stored.revision, 2, "a save must bump the stored revision");
    assert_eq!(stored.title, "second", "a save must store the new content");

    let stale = PlanRecord {
        title: "stale".to_owned(),
        ..plan.clone()
    };
    assert_eq!(
        save(store, &stale, Some(1), &Effects::none(), now).await,
        SaveOutcome::Conflict,
        "a save with a stale revision must conflict"
    );
    let stored = load(store, &plan.id).await;
    assert_eq!(
        (stored.revision, stored.title.as_str()),
        (2, "second"),
        "a conflict must leave the plan alone"
    );

    let v3 = PlanRecord {
        revision: 0,
        title: "third".to_owned(),
        ..v2.clone()
    };
    assert_eq!(
        save(store, &v3, Some(2), &Effects::none(), now).await,
        SaveOutcome::Saved,
        "the expected revision decides, not the record's own revision field"
    );
    let stored = load(store, &plan.id).await;
    assert_eq!(
        stored,
        PlanRecord { revision: 3, ..v3 },
        "the stored plan must carry the new revision"
    );

    let ghost = sample_plan(&channel, now);
    assert_eq!(
        save(store, &ghost, Some(1), &Effects::none(), now).await,
        SaveOutcome::Conflict,
        "updating a plan that was never saved must conflict"
    );
    assert_eq!(
        store.plan(&ghost.id).await.expect("Store::plan failed"),
        None,
        "a conflicting plan must not be stored"
    );
}

/// Plans are listed most recently changed first; `open_only` leaves out terminal plans.
pub async fn plan_listing(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let older = sample_plan(&channel, now);
    let newer = PlanRecord {
        updated_at: now.after(millis(1000)),
        ..sample_plan(&channel, now)
    };
    let finished = PlanRecord {
        state: PlanState::Succeeded,
        updated_at: now.after(millis(2000)),
        ..sample_plan(&channel, now)
    };
    for plan in [&older, &newer, &finished] {
        assert_eq!(
            save(store, plan, None, &Effects::none(), now).await,
            SaveOutcome::Saved,
            "a new plan must be saved"
        );
    }
    let ours = [&older.id, &newer.id, &finished.id];

    let all = store.plans(false, WIDE).await.expect("Store::plans failed");
    let listed: Vec<_> = all.iter().filter(|s| ours.contains(&&s.id)).collect();
    let ids: Vec<_> = listed.iter().map(|s| &s.id).collect();
    assert_eq!(
        ids,
        [&finished.id, &newer.id, &older.id],
        "plans must be listed most recently changed first"
    );
    let summary = listed[0];
    assert_eq!(
        summary.title, finished.title,
        "a summary carries the plan's title"
    );
    assert_eq!(
        summary.state,
        PlanState::Succeeded,
        "a summary carries the plan's state"
    );
    assert_eq!(
        summary.conversation, finished.conversation,
        "a summary carries the plan's conversation"
    );
    assert_eq!(
        summary.updated_at, finished.updated_at,
        "a summary carries the plan's last change"
    );

    let open = store.plans(true, WIDE).await.expect("Store::plans failed");
    let ids: Vec<_> = open
        .iter()
        .filter(|s| ours.contains(&&s.id))
        .map(|s| &s.id)
        .collect();
    assert_eq!(
        ids,
        [&newer.id, &older.id],
        "open_only must leave out terminal plans"
    );
}

/// The outbox messages, audit events and inbox acknowledgement of a save are written with
/// it, and none of them when the save conflicts.
pub async fn effects_are_atomic_with_plan_save(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let plan = sample_plan(&channel, now);
    let inbox_id = store
        .inbox_put(&sample_inbound(&channel, "evt-request"), now)
        .await
        .expect("Store::inbox_put failed")
        .expect("a new event must be stored");
    let audit_before = audit_len(store).await;

    let message = sample_message(&plan.conversation, "Plan created");
    let mut effects = Effects {
        inbox_done: Some(inbox_id.clone()),
        ..Effects::none()
    };
    effects.send(message.clone()).audit(AuditEvent::new(
        "plan.created",
        "alice",
        plan.id.as_str(),
        json!({ "title": plan.title }),
    ));
    assert_eq!(
        save(store, &plan, None, &effects, now).await,
        SaveOutcome::Saved,
        "a new plan must be saved"
    );

    let queued = due(store, &channel, now).await;
    assert_eq!(queued.len(), 1, "a save must queue its outbound message");
    assert_eq!(
        queued[0].message, message,
        "a queued message must read back unchanged"
    );
    assert_eq!(
        queued[0].attempts, 0,
        "a queued message starts with no attempts"
    );
    assert_eq!(queued[0].not_before, now, "a queued message is due at once");
    assert_eq!(
        queued[0].created_at, now,
        "a queued message keeps the time it was queued"
    );
    let recorded = audit_about(store, audit_before + 1, plan.id.as_str()).await;
    assert_eq!(recorded.len(), 1, "a save must append its audit event");
    assert_eq!(
        recorded[0].event.kind, "plan.created",
        "the audit event must read back unchanged"
    );
    assert!(
        pending_on(store, &[channel.as_str()])
            .await
            .iter()
            .all(|item| item.id != inbox_id),
        "a save must mark its inbox event processed"
    );

    // A conflicting new plan (same request) and a stale update: neither writes anything.
    let second_inbox = store
        .inbox_put(&sample_inbound(&channel, "evt-again"), now)
        .await
        .expect("Store::inbox_put failed")
        .expect("a new event must be stored");
    let twin = PlanRecord {
        request_id: plan.request_id.clone(),
        ..sample_plan(&channel, now)
    };
    let stale = PlanRecord {
        title: "stale".to_owned(),
        ..plan.clone()
    };
    for (attempt, expected) in [(&twin, None), (&stale, Some(7))] {
        let elsewhere = ConversationRef::new(channel.as_str(), format!("lost-{}", new_short_id(6)));
        let lost = sample_message(&elsewhere, "must not be sent");
        let mut effects = Effects {
            inbox_done: Some(second_inbox.clone()),
            ..Effects::none()
        };
        effects.send(lost.clone()).audit(AuditEvent::new(
            "plan.lost",
            "alice",
            attempt.id.as_str(),
            Value::Null,
        ));
        assert_eq!(
            save(store, attempt, expected, &effects, now).await,
            SaveOutcome::Conflict,
            "a duplicate request or a stale revision must conflict"
        );
        let queued = due(store, &channel, now).await;
        assert!(
            queued
                .iter()
                .all(|item| item.message.idempotency_key != lost.idempotency_key),
            "a conflicting save must not queue its message"
        );
        let lost_records = audit_about(store, audit_before + 1, attempt.id.as_str()).await;
        assert!(
            lost_records
                .iter()
                .all(|record| record.event.kind != "plan.lost"),
            "a conflicting save must not append its audit event"
        );
        assert!(
            pending_on(store, &[channel.as_str()])
                .await
                .iter()
                .any(|item| item.id == second_inbox),
            "a conflicting save must not mark its inbox event processed"
        );
    }
    assert!(
        audit_len(store).await > audit_before,
        "the audit chain must stay intact and grow"
    );
}
