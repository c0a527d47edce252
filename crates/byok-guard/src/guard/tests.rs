//! Tests of `Guard`: reserve and settle, hold TTLs, budget hierarchies.

use super::*;
use crate::budget::Period;
use crate::ledger::memory::MemoryLedger;

fn guard() -> Guard {
    Guard::new(Arc::new(MemoryLedger::new()))
}

#[tokio::test]
async fn unpriced_model_is_denied_under_a_budget_unless_configured() {
    let g = guard();
    let s = Scope::workspace("w");
    g.set_budget(&Budget::new(s.clone(), Usd::from_dollars(1), Period::Day))
        .await
        .unwrap();
    let call = CallRequest {
        scopes: vec![s.clone()],
        model: "mystery-model",
        prompt: Prompt::Tokens(10),
        max_output_tokens: Some(10),
    };
    match g.reserve(&call).await.unwrap() {
        Admission::Denied(d) => {
            assert_eq!(d.reason, DenyReason::UnpricedModel);
            assert_eq!(d.needed, None);
        }
        other => panic!("{other:?}"),
    }
    // Without a budget there is nothing to protect, and the reservation says so.
    let free = CallRequest {
        scopes: vec![
            Scope::workspace("other"),
            s.clone(),
            Scope::workspace("other"),
        ],
        model: "gpt-4o",
        ..call.clone()
    };
    let Admission::Reserved(r) = g.reserve(&free).await.unwrap() else {
        panic!("admitted")
    };
    assert_eq!(r.budgets, vec![s.clone()]);
    assert_eq!(r.uncovered, vec![Scope::workspace("other")]);
    let free = CallRequest {
        scopes: vec![Scope::workspace("other")],
        ..call.clone()
    };
    let Admission::Reserved(r) = g.reserve(&free).await.unwrap() else {
        panic!("admitted")
    };
    assert_eq!((r.budgets.len(), r.uncovered.len()), (0, 1));
    // Configured: a fixed hold, settled as `unavailable` at that amount.
    let g = g.with_unpriced(UnpricedPolicy::Hold(Usd::from_picos(1_000)));
    let Admission::Reserved(r) = g.reserve(&call).await.unwrap() else {
        panic!("held")
    };
    g.settle(
        &r,
        Actual::Usage(Usage {
            input_tokens: 3,
            ..Usage::default()
        }),
    )
    .await
    .unwrap();
    let st = g.status(&s).await.unwrap().unwrap();
    assert_eq!(
        st.spent_by_label.get(&Label::Unavailable),
        Some(&Usd::from_picos(1_000))
    );
}

#[tokio::test]
async fn reserve_holds_the_worst_case_and_settle_replaces_it() {
    let g = guard();
    let s = Scope::key("k1");
    g.set_budget(&Budget::new(s.clone(), Usd::from_dollars(1), Period::Total))
        .await
        .unwrap();
    let call = CallRequest {
        scopes: vec![s.clone()],
        model: "gpt-4o",
        prompt: Prompt::Tokens(1000),
        max_output_tokens: Some(1000),
    };
    let Admission::Reserved(r) = g.reserve(&call).await.unwrap() else {
        panic!("held")
    };
    assert_eq!(r.amount.to_string(), "0.0125");
    assert_eq!(g.status(&s).await.unwrap().unwrap().held, r.amount);
    g.settle(
        &r,
        Actual::Usage(Usage {
            input_tokens: 1000,
            output_tokens: 10,
            ..Usage::default()
        }),
    )
    .await
    .unwrap();
    let st = g.status(&s).await.unwrap().unwrap();
    assert_eq!(
        (st.spent.to_string(), st.held),
        ("0.0026".to_owned(), Usd::ZERO)
    );
    assert_eq!(
        g.settle(&r, Actual::Cost(Cost::UNAVAILABLE)).await.unwrap(),
        SettleOutcome::AlreadySettled
    );
    assert_eq!(
        g.reserve_amount(&[s], Usd::from_picos(-1))
            .await
            .unwrap_err()
            .code(),
        "invalid_amount"
    );
}

mod ttl_tests {
    use super::super::*;
    use crate::budget::Period;
    use crate::ledger::memory::MemoryLedger;

    /// A TTL of 0 once made every hold lapse at once: $15 spent on a $5 limit.
    #[tokio::test]
    async fn a_ttl_below_the_floor_is_refused_and_a_late_settle_is_reported() {
        let s = Scope::project("ttl");
        let base = Guard::new(Arc::new(MemoryLedger::new()));
        base.set_budget(&Budget::new(s.clone(), Usd::from_dollars(5), Period::Day))
            .await
            .unwrap();
        for secs in [0, 1, 59] {
            let g = base.clone().with_ttl(std::time::Duration::from_secs(secs));
            let e = g
                .reserve_amount(std::slice::from_ref(&s), Usd::from_dollars(5))
                .await
                .unwrap_err();
            assert_eq!(e.code(), "hold_ttl_too_short", "{secs} s");
            assert!(e.to_string().contains("at least 60 s"), "{e}");
        }
        let g = base.with_ttl(crate::MIN_HOLD_TTL);
        let Admission::Reserved(r) = g
            .reserve_amount(std::slice::from_ref(&s), Usd::from_dollars(1))
            .await
            .unwrap()
        else {
            panic!("fits")
        };
        let SettleOutcome::Settled { over_limit, .. } = g
            .settle_amount(r.id, Usd::from_dollars(6), Label::Estimated)
            .await
            .unwrap()
        else {
            panic!("first settle")
        };
        assert_eq!(over_limit.len(), 1);
        assert!(!over_limit[0].late);
        assert!(
            over_limit[0].message().contains("cost more than it held"),
            "{}",
            over_limit[0].message()
        );
    }
}

mod hierarchy_tests {
    use super::super::*;
    use crate::budget::Period;
    use crate::ledger::memory::MemoryLedger;

    #[tokio::test]
    async fn every_level_is_checked_and_alerts_come_back_from_settle() {
        let g = Guard::new(Arc::new(MemoryLedger::new()));
        let (key, project, workspace) =
            (Scope::key("k"), Scope::project("p"), Scope::workspace("w"));
        for (s, dollars) in [(&key, 100), (&project, 50), (&workspace, 2)] {
            let b = Budget::new(s.clone(), Usd::from_dollars(dollars), Period::Month).alerts([50]);
            g.set_budget(&b).await.unwrap();
        }
        let scopes = vec![key.clone(), project.clone(), workspace.clone()];
        let Admission::Reserved(r) = g
            .reserve_amount(&scopes, Usd::from_dollars(1))
            .await
            .unwrap()
        else {
            panic!("fits every level")
        };
        match g
            .reserve_amount(&scopes, Usd::from_dollars(2))
            .await
            .unwrap()
        {
            Admission::Denied(d) => assert_eq!(d.budget, workspace, "the tightest level denies"),
            other => panic!("{other:?}"),
        }
        let SettleOutcome::Settled { alerts, .. } = g
            .settle_amount(r.id, Usd::from_dollars(1), Label::Estimated)
            .await
            .unwrap()
        else {
            panic!("first settle")
        };
        let fired: Vec<_> = alerts
            .iter()
            .map(|a| (a.scope.clone(), a.percent))
            .collect();
        assert_eq!(
            fired,
            vec![(workspace.clone(), 50)],
            "only the workspace crossed 50 %"
        );
        for s in [&key, &project] {
            assert_eq!(
                g.status(s).await.unwrap().unwrap().spent,
                Usd::from_dollars(1)
            );
        }
    }

    #[tokio::test]
    async fn synced_guards_settle_usage_as_pending_provider_sync() {
        let g = Guard::new(Arc::new(MemoryLedger::new())).with_provider_sync(true);
        let s = Scope::project("synced");
        g.set_budget(&Budget::new(s.clone(), Usd::from_dollars(1), Period::Day))
            .await
            .unwrap();
        let call = CallRequest {
            scopes: vec![s.clone()],
            model: "gpt-4o",
            prompt: Prompt::Tokens(10),
            max_output_tokens: Some(10),
        };
        let Admission::Reserved(r) = g.reserve(&call).await.unwrap() else {
            panic!("held")
        };
        g.settle(
            &r,
            Actual::Usage(Usage {
                input_tokens: 10,
                output_tokens: 10,
                ..Usage::default()
            }),
        )
        .await
        .unwrap();
        let st = g.status(&s).await.unwrap().unwrap();
        assert_eq!(
            st.spent_by_label.keys().copied().collect::<Vec<_>>(),
            vec![Label::PendingProviderSync]
        );
        assert_eq!(st.spent.to_string(), "0.000125");
    }
}
