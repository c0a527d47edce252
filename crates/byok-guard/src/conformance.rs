//! The [`Ledger`] contract as runnable checks, for our backends and yours.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use byok_guard::{conformance, MemoryLedger};
//! conformance::run_all(Arc::new(MemoryLedger::new())).await;
//! # });
//! ```
//!
//! Behind the `conformance` feature: add `byok-guard = { version = "…",
//! features = ["conformance"] }` to a backend's `[dev-dependencies]`.
//!
//! Each check uses fresh, unique scopes (UUIDs), so the suite can run
//! repeatedly and concurrently against one shared server. Checks panic with a
//! message naming the broken rule. [`run_all`] takes the backend as an
//! `Arc<dyn Ledger>`; each case takes `&dyn Ledger`, except those that spawn
//! concurrent tasks, which take an `Arc<dyn Ledger>`.
//!
//! # Semver
//!
//! The suite may gain cases, and existing cases may check more, in minor
//! releases: a case that a backend newly fails has found a bug in that backend
//! (the [`Ledger`] contract did not change), not a breaking change of this crate.
//! Removing or renaming a public case is a breaking change.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use crate::budget::{Budget, Period, Scope};
use crate::cost::Label;
use crate::ledger::{
    DenyReason, HistoryRequest, HoldOutcome, HoldRequest, Ledger, MAX_HISTORY_BUCKETS,
    MIN_HOLD_TTL, OverLimit, RelabelRequest, Relabeled, ReleaseOutcome, ReservationId,
    SettleOutcome, SpendBucket,
};
use crate::{GuardError, Usd};

fn scope(name: &str) -> Scope {
    Scope::custom(format!("conformance:{name}:{}", uuid::Uuid::now_v7())).expect("valid scope")
}

fn usd(s: &str) -> Usd {
    s.parse().expect("valid amount")
}

fn t0() -> Timestamp {
    "2031-05-14T10:00:00Z".parse().expect("valid timestamp")
}

fn req(scopes: &[&Scope], amount: Usd, now: Timestamp) -> HoldRequest {
    HoldRequest {
        id: ReservationId::new(),
        scopes: scopes.iter().map(|s| (*s).clone()).collect(),
        amount,
        now,
        expires_at: now + SignedDuration::from_mins(10),
    }
}

async fn put(backend: &dyn Ledger, scope: &Scope, limit: &str, period: Period) -> Budget {
    let b = Budget::new(scope.clone(), usd(limit), period).alerts([50, 100]);
    backend.put_budget(&b).await.expect("put_budget");
    b
}

async fn held(backend: &dyn Ledger, r: &HoldRequest) -> bool {
    match backend.hold(r).await.expect("hold") {
        HoldOutcome::Held { .. } => true,
        HoldOutcome::Denied(_) => false,
    }
}

/// Run every check.
pub async fn run_all(backend: Arc<dyn Ledger>) {
    let l = &*backend;
    budgets_round_trip(l).await;
    holds_up_to_the_limit_exactly(l).await;
    holds_are_all_or_nothing(l).await;
    settle_replaces_the_hold_and_keeps_its_label(l).await;
    settle_and_release_are_exactly_once(l).await;
    holds_expire(l).await;
    short_holds_are_refused(l).await;
    settles_past_the_limit_are_reported(l).await;
    alerts_fire_once_per_period(l).await;
    periods_reset(l).await;
    huge_amounts_are_exact_or_refused(l).await;
    redefining_a_budget_keeps_the_open_periods_spend(l).await;
    relabel_moves_calls_on_every_budget(l).await;
    spend_history_sums_settled_calls_per_bucket(l).await;
    concurrent_holds_never_overspend(backend.clone(), 16, 20).await;
}

/// Budgets are stored, replaced and deleted.
pub async fn budgets_round_trip(backend: &dyn Ledger) {
    let s = scope("budgets");
    assert_eq!(backend.budget(&s).await.expect("budget"), None);
    let b = put(backend, &s, "5", Period::Month).await;
    assert_eq!(backend.budget(&s).await.expect("budget"), Some(b.clone()));
    let b2 = Budget {
        limit: usd("7.5"),
        ..b
    }
    .time_zone("Europe/Paris");
    backend.put_budget(&b2).await.expect("replace");
    assert_eq!(backend.budget(&s).await.expect("budget"), Some(b2));
    let bad = Budget::new(s.clone(), usd("1"), Period::Day).time_zone("No/Where");
    assert_eq!(
        backend.put_budget(&bad).await.unwrap_err().code(),
        "invalid_time_zone",
        "put_budget validates"
    );
    assert!(backend.delete_budget(&s).await.expect("delete"));
    assert!(!backend.delete_budget(&s).await.expect("delete again"));
    assert_eq!(backend.status(&s, t0()).await.expect("status"), None);
}

/// Admit while `spent + held + amount <= limit`, deny one past it, with the figures.
pub async fn holds_up_to_the_limit_exactly(backend: &dyn Ledger) {
    let s = scope("limit");
    put(backend, &s, "1", Period::Total).await;
    for i in 0..4 {
        assert!(
            held(backend, &req(&[&s], usd("0.25"), t0())).await,
            "hold {i} of 0.25 under a $1 limit must fit"
        );
    }
    match backend
        .hold(&req(&[&s], usd("0.000000000001"), t0()))
        .await
        .expect("hold")
    {
        HoldOutcome::Denied(d) => {
            assert_eq!(d.budget, s);
            assert_eq!(
                (d.limit, d.spent, d.reserved),
                (usd("1"), Usd::ZERO, usd("1"))
            );
            assert_eq!(d.needed, Some(Usd::from_picos(1)));
            assert_eq!(d.reason, DenyReason::OverLimit);
        }
        other => panic!("one picodollar past the limit must be denied, got {other:?}"),
    }
    // A zero-cost hold still fits a full budget; a scope without a budget never limits.
    assert!(held(backend, &req(&[&s], Usd::ZERO, t0())).await);
    let free = scope("no-budget");
    assert!(held(backend, &req(&[&free], usd("1000000"), t0())).await);
    // Repeating a hold id is the same reservation, not a second hold.
    let r = req(&[&free, &s], Usd::ZERO, t0());
    assert!(held(backend, &r).await && held(backend, &r).await);
    let st = backend
        .status(&s, t0())
        .await
        .expect("status")
        .expect("budget");
    assert_eq!(st.held, usd("1"));
}

/// A denial on one budget holds nothing on the others.
pub async fn holds_are_all_or_nothing(backend: &dyn Ledger) {
    let (wide, tight) = (scope("wide"), scope("tight"));
    put(backend, &wide, "100", Period::Day).await;
    put(backend, &tight, "1", Period::Day).await;
    match backend
        .hold(&req(&[&wide, &tight], usd("2"), t0()))
        .await
        .expect("hold")
    {
        HoldOutcome::Denied(d) => assert_eq!(d.budget, tight, "the denying budget is named"),
        other => panic!("must be denied by the tight budget, got {other:?}"),
    }
    let st = backend
        .status(&wide, t0())
        .await
        .expect("status")
        .expect("budget");
    assert_eq!(
        st.held,
        Usd::ZERO,
        "nothing may be held on the wide budget after a denial"
    );
    match backend
        .hold(&req(&[&wide, &tight], usd("1"), t0()))
        .await
        .expect("hold")
    {
        HoldOutcome::Held { mut budgets } => {
            budgets.sort();
            let mut want = vec![wide.clone(), tight.clone()];
            want.sort();
            assert_eq!(budgets, want);
        }
        other => panic!("must fit both, got {other:?}"),
    }
}

/// Settle records the actual amount under its label and drops the hold.
pub async fn settle_replaces_the_hold_and_keeps_its_label(backend: &dyn Ledger) {
    let s = scope("settle");
    put(backend, &s, "10", Period::Month).await;
    let a = req(&[&s], usd("2"), t0());
    let b = req(&[&s], usd("2"), t0());
    assert!(held(backend, &a).await && held(backend, &b).await);
    backend
        .settle(a.id, usd("0.5"), Label::Estimated, t0())
        .await
        .expect("settle a");
    backend
        .settle(b.id, usd("0.25"), Label::VerifiedByProvider, t0())
        .await
        .expect("settle b");
    let st = backend
        .status(&s, t0())
        .await
        .expect("status")
        .expect("budget");
    assert_eq!(st.held, Usd::ZERO);
    assert_eq!(st.spent, usd("0.75"));
    assert_eq!(st.spent_by_label.get(&Label::Estimated), Some(&usd("0.5")));
    assert_eq!(
        st.spent_by_label.get(&Label::VerifiedByProvider),
        Some(&usd("0.25"))
    );
    assert_eq!(st.remaining, usd("9.25"));
    assert!(st.period_start.is_some() && st.period_end.is_some());
}

/// Relabel moves the calls of one scope and window, on all of their budgets, once.
pub async fn relabel_moves_calls_on_every_budget(backend: &dyn Ledger) {
    let key = scope("relabel-key");
    let ws = scope("relabel-ws");
    let other_key = scope("relabel-other");
    for s in [&key, &ws, &other_key] {
        put(backend, s, "1000", Period::Month).await;
    }
    let hour = SignedDuration::from_hours(1);
    let day_start = t0();
    let in_day = day_start + hour;
    let next_day = day_start + SignedDuration::from_hours(25);
    // (scopes, amount, label, settled at)
    let calls: [(&[&Scope], &str, Label, Timestamp); 5] = [
        (&[&key, &ws], "1", Label::Estimated, in_day),
        (&[&key, &ws], "2", Label::PendingProviderSync, day_start),
        (&[&key, &ws], "4", Label::Unavailable, in_day),
        (&[&key, &ws], "8", Label::PendingProviderSync, next_day),
        (&[&other_key, &ws], "16", Label::PendingProviderSync, in_day),
    ];
    for (scopes, amount, label, at) in calls {
        let r = req(scopes, usd(amount), day_start);
        assert!(held(backend, &r).await, "relabel setup hold");
        backend
            .settle(r.id, usd(amount), label, at)
            .await
            .expect("settle");
    }
    // A held call and a released call are not settled spend: never counted.
    let open = req(&[&key], usd("32"), day_start);
    assert!(held(backend, &open).await);
    let gone = req(&[&key], usd("64"), day_start);
    assert!(held(backend, &gone).await);
    backend.release(gone.id).await.expect("release");

    let request = RelabelRequest {
        scope: key.clone(),
        start: day_start,
        end: day_start + SignedDuration::from_hours(24),
        from: vec![Label::Estimated, Label::PendingProviderSync],
        to: Label::VerifiedByProvider,
    };
    let first = backend.relabel(&request).await.expect("relabel");
    assert_eq!(
        first,
        Relabeled {
            calls: 3,
            total: usd("7"),
            moved_calls: 2,
            moved: usd("3"),
        },
        "relabel selects the scope's settled calls in [start, end) and moves those with a `from` label"
    );
    let again = backend.relabel(&request).await.expect("relabel again");
    assert_eq!(
        (again.calls, again.total, again.moved_calls, again.moved),
        (3, usd("7"), 0, Usd::ZERO),
        "a repeated relabel moves nothing"
    );
    let by_label = |st: &crate::BudgetStatus| {
        st.spent_by_label
            .iter()
            .map(|(l, u)| (*l, *u))
            .collect::<Vec<_>>()
    };
    let st = backend
        .status(&key, day_start)
        .await
        .expect("status")
        .expect("budget");
    assert_eq!(st.spent, usd("15"), "relabel never changes spent totals");
    assert_eq!(
        by_label(&st),
        vec![
            (Label::VerifiedByProvider, usd("3")),
            (Label::PendingProviderSync, usd("8")),
            (Label::Unavailable, usd("4")),
        ],
        "the key budget's labels after relabel"
    );
    assert_eq!(st.held, usd("32"));
    let st = backend
        .status(&ws, day_start)
        .await
        .expect("status")
        .expect("budget");
    assert_eq!(st.spent, usd("31"));
    assert_eq!(
        by_label(&st),
        vec![
            (Label::VerifiedByProvider, usd("3")),
            (Label::PendingProviderSync, usd("24")),
            (Label::Unavailable, usd("4")),
        ],
        "a relabelled call moves on every budget it counts against"
    );
    let nothing = backend
        .relabel(&RelabelRequest {
            scope: scope("relabel-none"),
            ..request
        })
        .await
        .expect("relabel of a scope without calls");
    assert_eq!(nothing, Relabeled::default());
}

/// `spend_history` counts each settled call of the scope's budget once, in the
/// bucket holding its settle time, with its current label; held, released and
/// other scopes' calls are not counted; bad edges are `invalid_history`.
pub async fn spend_history_sums_settled_calls_per_bucket(backend: &dyn Ledger) {
    let ws = scope("history-ws");
    let key = scope("history-key");
    let other = scope("history-other");
    let unbudgeted = scope("history-none");
    for s in [&ws, &key, &other] {
        put(backend, s, "1000", Period::Month).await;
    }
    let h = SignedDuration::from_hours;
    let d0 = t0();
    let edges = vec![d0, d0 + h(24), d0 + h(48), d0 + h(72)];
    // (scopes, amount, label, settled at)
    let calls: [(&[&Scope], &str, Label, Timestamp); 8] = [
        (&[&key, &ws], "1", Label::Estimated, d0 + h(1)),
        (&[&ws], "2", Label::PendingProviderSync, d0 + h(2)),
        (&[&ws], "64", Label::Estimated, d0),
        (&[&ws], "4", Label::Estimated, d0 + h(25)),
        (&[&ws], "0", Label::Unavailable, d0 + h(49)),
        (&[&ws], "16", Label::Estimated, d0 - h(1)),
        (&[&ws], "32", Label::Estimated, d0 + h(72)),
        (&[&other], "128", Label::Estimated, d0 + h(1)),
    ];
    for (scopes, amount, label, at) in calls {
        let r = req(scopes, usd(amount), d0 - h(2));
        assert!(held(backend, &r).await, "history setup hold");
        backend
            .settle(r.id, usd(amount), label, at)
            .await
            .expect("settle");
    }
    let open = req(&[&ws], usd("256"), d0);
    assert!(held(backend, &open).await);
    let gone = req(&[&ws], usd("512"), d0);
    assert!(held(backend, &gone).await);
    backend.release(gone.id).await.expect("release");

    let history = |scope: &Scope| HistoryRequest {
        scope: scope.clone(),
        edges: edges.clone(),
    };
    type Sums = Vec<(u64, Usd, Vec<(Label, Usd)>)>;
    let sums = |buckets: &[SpendBucket]| -> Sums {
        buckets
            .iter()
            .map(|b| {
                let labels = b.spent_by_label.iter().map(|(l, u)| (*l, *u)).collect();
                (b.calls, b.spent, labels)
            })
            .collect()
    };
    let counts = |b: &SpendBucket| {
        b.calls_by_label
            .iter()
            .map(|(l, n)| (*l, *n))
            .collect::<Vec<_>>()
    };
    let got = backend
        .spend_history(&history(&ws))
        .await
        .expect("spend_history");
    assert_eq!(
        got.iter().map(|b| (b.start, b.end)).collect::<Vec<_>>(),
        edges.windows(2).map(|w| (w[0], w[1])).collect::<Vec<_>>(),
        "one bucket per pair of edges, in order"
    );
    assert_eq!(
        sums(&got),
        vec![
            (
                3,
                usd("67"),
                vec![
                    (Label::Estimated, usd("65")),
                    (Label::PendingProviderSync, usd("2"))
                ]
            ),
            (1, usd("4"), vec![(Label::Estimated, usd("4"))]),
            (1, Usd::ZERO, vec![]),
        ],
        "calls settled in [start, end) count once in their bucket (the first edge in, the last out); held, released and other scopes' calls do not"
    );
    assert_eq!(
        got.iter().map(counts).collect::<Vec<_>>(),
        vec![
            vec![(Label::Estimated, 2), (Label::PendingProviderSync, 1)],
            vec![(Label::Estimated, 1)],
            vec![(Label::Unavailable, 1)],
        ],
        "calls are counted per label, a $0 call of unknown price too"
    );
    let key_history = backend
        .spend_history(&history(&key))
        .await
        .expect("spend_history of the key");
    assert_eq!(
        sums(&key_history)[0],
        (1, usd("1"), vec![(Label::Estimated, usd("1"))]),
        "a call counts in the history of each budget it held on"
    );
    backend
        .relabel(&RelabelRequest {
            scope: ws.clone(),
            start: d0,
            end: d0 + h(24),
            from: vec![Label::PendingProviderSync],
            to: Label::VerifiedByProvider,
        })
        .await
        .expect("relabel");
    let after = backend
        .spend_history(&history(&ws))
        .await
        .expect("spend_history after relabel");
    assert_eq!(
        sums(&after)[0],
        (
            3,
            usd("67"),
            vec![
                (Label::Estimated, usd("65")),
                (Label::VerifiedByProvider, usd("2"))
            ]
        ),
        "a relabelled call counts under its new label"
    );
    assert_eq!(
        counts(&after[0]),
        vec![(Label::Estimated, 2), (Label::VerifiedByProvider, 1)],
        "and is counted under it"
    );
    let empty = backend
        .spend_history(&history(&unbudgeted))
        .await
        .expect("spend_history without a budget");
    assert!(
        empty.len() == 3 && empty.iter().all(|b| b.calls == 0 && b.spent == Usd::ZERO),
        "a scope without a budget has empty buckets: {empty:?}"
    );
    let too_many = (0..=MAX_HISTORY_BUCKETS + 1)
        .map(|i| d0 + h(i64::try_from(i).expect("small")))
        .collect();
    for bad in [vec![d0], vec![d0 + h(1), d0], vec![d0, d0], too_many] {
        let e = backend
            .spend_history(&HistoryRequest {
                scope: ws.clone(),
                edges: bad,
            })
            .await
            .expect_err("bad edges are refused");
        assert_eq!(e.code(), "invalid_history", "{e}");
    }
}

/// Settle once; repeat is a no-op; release and settle exclude each other.
pub async fn settle_and_release_are_exactly_once(backend: &dyn Ledger) {
    let s = scope("once");
    put(backend, &s, "10", Period::Total).await;
    let a = req(&[&s], usd("1"), t0());
    assert!(held(backend, &a).await);
    let first = backend
        .settle(a.id, usd("1"), Label::Estimated, t0())
        .await
        .expect("settle");
    assert!(matches!(first, SettleOutcome::Settled { .. }));
    let again = backend
        .settle(a.id, usd("1"), Label::Estimated, t0())
        .await
        .expect("settle again");
    assert_eq!(again, SettleOutcome::AlreadySettled);
    let st = backend
        .status(&s, t0())
        .await
        .expect("status")
        .expect("budget");
    assert_eq!(st.spent, usd("1"), "a repeated settle must not add spend");
    assert_eq!(
        backend.release(a.id).await.unwrap_err(),
        GuardError::ReservationSettled {
            id: a.id.to_string()
        }
    );

    let b = req(&[&s], usd("1"), t0());
    assert!(held(backend, &b).await);
    assert_eq!(
        backend.release(b.id).await.expect("release"),
        ReleaseOutcome::Released
    );
    assert_eq!(
        backend.release(b.id).await.expect("release again"),
        ReleaseOutcome::AlreadyReleased
    );
    assert_eq!(
        backend
            .settle(b.id, usd("1"), Label::Estimated, t0())
            .await
            .unwrap_err()
            .code(),
        "reservation_released"
    );
    let unknown = ReservationId::new();
    assert_eq!(
        backend
            .settle(unknown, usd("1"), Label::Estimated, t0())
            .await
            .unwrap_err()
            .code(),
        "reservation_not_found"
    );
    assert_eq!(
        backend.release(unknown).await.unwrap_err().code(),
        "reservation_not_found"
    );
    let st = backend
        .status(&s, t0())
        .await
        .expect("status")
        .expect("budget");
    assert_eq!((st.spent, st.held), (usd("1"), Usd::ZERO));
}

/// A hold stops counting at its expiry; settling it later still records the spend.
pub async fn holds_expire(backend: &dyn Ledger) {
    let s = scope("ttl");
    put(backend, &s, "1", Period::Total).await;
    let mut a = req(&[&s], usd("1"), t0());
    a.expires_at = t0() + SignedDuration::from_secs(60);
    assert!(held(backend, &a).await);
    let just_before = t0() + SignedDuration::from_secs(59);
    assert!(
        !held(backend, &req(&[&s], usd("0.5"), just_before)).await,
        "live hold still counts"
    );
    let after = t0() + SignedDuration::from_secs(60);
    let st = backend
        .status(&s, after)
        .await
        .expect("status")
        .expect("budget");
    assert_eq!(st.held, Usd::ZERO, "an expired hold must not count");
    let b = req(&[&s], usd("1"), after);
    assert!(
        held(backend, &b).await,
        "the expired hold's room is free again"
    );
    backend
        .settle(a.id, usd("0.1"), Label::Estimated, after)
        .await
        .expect("late settle");
    let st = backend
        .status(&s, after)
        .await
        .expect("status")
        .expect("budget");
    assert_eq!((st.spent, st.held), (usd("0.1"), usd("1")));
}

/// A hold shorter than [`MIN_HOLD_TTL`] is refused (`hold_ttl_too_short`), nothing held.
pub async fn short_holds_are_refused(backend: &dyn Ledger) {
    let s = scope("short-ttl");
    put(backend, &s, "5", Period::Total).await;
    let floor = SignedDuration::try_from(MIN_HOLD_TTL).expect("a small duration");
    for ttl in [
        SignedDuration::ZERO,
        SignedDuration::from_secs(-5),
        SignedDuration::from_millis(1),
        floor - SignedDuration::from_millis(1),
    ] {
        let mut r = req(&[&s], usd("5"), t0());
        r.expires_at = t0() + ttl;
        let e = backend
            .hold(&r)
            .await
            .expect_err("a hold shorter than the floor must be refused");
        assert_eq!(e.code(), "hold_ttl_too_short", "TTL {ttl:?}");
        // Refused on a scope without a budget too: the TTL is the caller's mistake either way.
        r.scopes = vec![scope("short-ttl-free")];
        assert_eq!(
            backend.hold(&r).await.unwrap_err().code(),
            "hold_ttl_too_short"
        );
    }
    let st = backend
        .status(&s, t0())
        .await
        .expect("status")
        .expect("budget");
    assert_eq!(st.held, Usd::ZERO, "a refused hold holds nothing");
    let mut r = req(&[&s], usd("5"), t0());
    r.expires_at = t0() + floor;
    assert!(
        held(backend, &r).await,
        "a hold of exactly the floor is fine"
    );
}

/// A settle that leaves a budget over its limit says so: `late` when its hold
/// had lapsed and another call was admitted into its room.
pub async fn settles_past_the_limit_are_reported(backend: &dyn Ledger) {
    let s = scope("overrun");
    let other = scope("overrun-wide");
    put(backend, &s, "5", Period::Total).await;
    put(backend, &other, "100", Period::Total).await;
    let over = |outcome: SettleOutcome| match outcome {
        SettleOutcome::Settled { over_limit, .. } => over_limit,
        other => panic!("a fresh settle returned {other:?}"),
    };
    let minute = SignedDuration::from_secs(60);
    let mut a = req(&[&s, &other], usd("5"), t0());
    a.expires_at = t0() + minute;
    assert!(held(backend, &a).await);
    // `a`'s call outlives its hold: its room goes to `b`.
    let later = t0() + minute;
    let b = req(&[&s, &other], usd("5"), later);
    assert!(held(backend, &b).await, "a lapsed hold's room is free");
    let at = later + SignedDuration::from_secs(1);
    let on_time = backend
        .settle(b.id, usd("5"), Label::Estimated, at)
        .await
        .expect("settle b");
    assert_eq!(
        over(on_time),
        vec![],
        "spend equal to the limit is not over it"
    );
    let late = backend
        .settle(a.id, usd("5"), Label::Estimated, at)
        .await
        .expect("late settle of a");
    assert_eq!(
        over(late),
        vec![OverLimit {
            scope: s.clone(),
            limit: usd("5"),
            spent: usd("10"),
            period: "total".to_owned(),
            late: true,
        }],
        "a late settle past the limit is reported, only on the budget it overran"
    );
    // On time but costlier than its hold; a $0 settle into an overspent period adds nothing
    // and reports nothing.
    let c = req(&[&other], usd("1"), at);
    assert!(held(backend, &c).await);
    let d = req(&[&other], Usd::ZERO, at);
    assert!(held(backend, &d).await);
    let dearer = backend
        .settle(c.id, usd("95"), Label::Estimated, at)
        .await
        .expect("settle c");
    assert_eq!(
        over(dearer),
        vec![OverLimit {
            scope: other.clone(),
            limit: usd("100"),
            spent: usd("105"),
            period: "total".to_owned(),
            late: false,
        }]
    );
    let free = backend
        .settle(d.id, Usd::ZERO, Label::Estimated, at)
        .await
        .expect("settle d");
    assert_eq!(over(free), vec![]);
    let st = backend
        .status(&s, at)
        .await
        .expect("status")
        .expect("budget");
    assert_eq!((st.spent, st.remaining), (usd("10"), usd("-5")));
}

/// 50 % and 100 % fire once each, on the settle that reaches them.
pub async fn alerts_fire_once_per_period(backend: &dyn Ledger) {
    let s = scope("alerts");
    put(backend, &s, "1", Period::Day).await;
    let mut fired = Vec::new();
    for amount in ["0.4", "0.2", "0.1", "0.3", "0.1"] {
        let r = req(&[&s], Usd::ZERO, t0());
        assert!(held(backend, &r).await);
        match backend
            .settle(r.id, usd(amount), Label::Estimated, t0())
            .await
            .expect("settle")
        {
            SettleOutcome::Settled { alerts, .. } => {
                fired.push(alerts.iter().map(|a| a.percent).collect::<Vec<_>>())
            }
            other => panic!("fresh settle returned {other:?}"),
        }
    }
    assert_eq!(fired, vec![vec![], vec![50], vec![], vec![100], vec![]]);
    let st = backend
        .status(&s, t0())
        .await
        .expect("status")
        .expect("budget");
    assert_eq!(st.alerts_fired, vec![50, 100]);
    assert_eq!(st.remaining, usd("-0.1"));
}

/// Day budgets count each day on its own.
pub async fn periods_reset(backend: &dyn Ledger) {
    let s = scope("daily");
    put(backend, &s, "1", Period::Day).await;
    let r = req(&[&s], usd("1"), t0());
    assert!(held(backend, &r).await);
    backend
        .settle(r.id, usd("1"), Label::Estimated, t0())
        .await
        .expect("settle");
    assert!(
        !held(backend, &req(&[&s], usd("0.01"), t0())).await,
        "the day is spent"
    );
    let tomorrow = t0() + SignedDuration::from_hours(24);
    assert!(
        held(backend, &req(&[&s], usd("1"), tomorrow)).await,
        "a new day has a new budget"
    );
    let st = backend
        .status(&s, tomorrow)
        .await
        .expect("status")
        .expect("budget");
    assert_eq!((st.spent, st.held), (Usd::ZERO, usd("1")));
}

/// A budget set again with another time zone or period keeps what its open
/// period has spent, held and fired (once, $9 were spent on a $5 limit).
///
/// `put_budget` has no `now`: it redefines the period open on the wall clock,
/// so this check runs at the wall clock and starts over if a period boundary
/// passes while it runs.
pub async fn redefining_a_budget_keeps_the_open_periods_spend(backend: &dyn Ledger) {
    for _ in 0..3 {
        let s = scope("redefine");
        let start = Timestamp::now();
        let utc_day = Budget::new(s.clone(), usd("5"), Period::Day).alerts([50]);
        // UTC+14: its days start ten hours before UTC's, so the open period's key differs.
        let far_day = utc_day.clone().time_zone("Pacific/Kiritimati");
        let far_month = Budget {
            period: Period::Month,
            ..far_day.clone()
        };
        backend.put_budget(&utc_day).await.expect("put_budget");
        let a = req(&[&s], usd("4"), start);
        assert!(held(backend, &a).await);
        backend
            .settle(a.id, usd("4"), Label::Estimated, start)
            .await
            .expect("settle");
        let open = req(&[&s], usd("0.5"), start);
        assert!(held(backend, &open).await);
        backend.put_budget(&far_day).await.expect("new time zone");
        let now = Timestamp::now();
        let windows = |t: Timestamp| {
            [&utc_day, &far_day, &far_month].map(|b| b.window(t).expect("window").key())
        };
        if windows(start) != windows(now) {
            continue; // a period began while this ran: try again in the new one
        }
        let st = backend
            .status(&s, now)
            .await
            .expect("status")
            .expect("budget");
        assert_eq!(
            (st.spent, st.held, st.alerts_fired.clone()),
            (usd("4"), usd("0.5"), vec![50]),
            "another time zone keeps the open period's spend, holds and fired alerts"
        );
        assert_eq!(st.period_start, far_day.window(now).expect("window").start);
        assert!(
            !held(backend, &req(&[&s], usd("1"), now)).await,
            "$4 spent and $0.5 held leave no room for $1 of $5"
        );
        backend
            .settle(open.id, usd("0.5"), Label::Estimated, now)
            .await
            .expect("settle the hold made before the change");
        backend.put_budget(&far_month).await.expect("new period");
        let st = backend
            .status(&s, now)
            .await
            .expect("status")
            .expect("budget");
        assert_eq!(
            (st.spent, st.held),
            (usd("4.5"), Usd::ZERO),
            "another period keeps the open period's spend, and a hold made before the change settles into it"
        );
        assert!(!held(backend, &req(&[&s], usd("0.6"), now)).await);
        assert!(held(backend, &req(&[&s], usd("0.5"), now)).await);
        return;
    }
    panic!("period boundaries kept passing during the check");
}

/// Amounts past 2^53 dollars (where doubles stop being exact) are either kept
/// exactly or refused with `amount_out_of_range`; a hold past the limit is never admitted.
pub async fn huge_amounts_are_exact_or_refused(backend: &dyn Ledger) {
    let refused = |e: &GuardError| {
        assert_eq!(
            e.code(),
            "amount_out_of_range",
            "only a range refusal may stop huge amounts: {e}"
        );
    };
    let s = scope("huge");
    let limit = Usd::from_dollars(1 << 53);
    if let Err(e) = backend
        .put_budget(&Budget::new(s.clone(), limit, Period::Total))
        .await
    {
        refused(&e);
        // The backend has a smaller range: a huge hold on a small budget is refused too.
        put(backend, &s, "10", Period::Total).await;
        match backend.hold(&req(&[&s], limit, t0())).await {
            Err(e) => refused(&e),
            Ok(HoldOutcome::Denied(_)) => {}
            Ok(other) => panic!("a hold past a $10 limit was admitted: {other:?}"),
        }
        return;
    }
    match backend.hold(&req(&[&s], limit, t0())).await {
        Ok(HoldOutcome::Held { .. }) => {}
        Err(e) => return refused(&e),
        Ok(other) => panic!("a hold of exactly the limit must fit: {other:?}"),
    }
    for past in [usd("1"), Usd::from_picos(1)] {
        match backend.hold(&req(&[&s], past, t0())).await {
            Ok(HoldOutcome::Denied(d)) => assert_eq!(d.reserved, limit, "exact figures"),
            Err(e) => refused(&e),
            Ok(other) => panic!("${past} past a 2^53-dollar limit was admitted: {other:?}"),
        }
    }
}

/// `tasks` concurrent tasks each try `per_task` holds of $0.01 on a $1 budget:
/// exactly 100 are admitted — not one more, not one fewer.
pub async fn concurrent_holds_never_overspend(
    backend: Arc<dyn Ledger>,
    tasks: usize,
    per_task: usize,
) {
    assert!(
        tasks * per_task > 100,
        "the race needs more attempts than room"
    );
    let s = scope("race");
    put(&*backend, &s, "1", Period::Total).await;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (backend, s) = (backend.clone(), s.clone());
        handles.push(tokio::spawn(async move {
            let mut admitted = 0usize;
            for _ in 0..per_task {
                if held(&*backend, &req(&[&s], usd("0.01"), t0())).await {
                    admitted += 1;
                }
            }
            admitted
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.expect("task");
    }
    assert_eq!(total, 100, "admitted holds must be exactly limit / amount");
    let st = backend
        .status(&s, t0())
        .await
        .expect("status")
        .expect("budget");
    assert_eq!(st.held, usd("1"));
}
