-- The PostgreSQL ledger's hot paths, one statement (one round trip) each.
--
-- `__V__` is replaced by a hash of this file, so every build's functions have
-- their own names: instances of different versions share the tables and never
-- replace each other's functions. The tables and their row format are those of
-- the generic SQL ledger (decimal TEXT amounts), so older instances using
-- multi-statement transactions interoperate: every writer locks the budget
-- rows of its scopes `FOR UPDATE` in scope order before touching spend or holds.
--
-- Amounts arrive as exact decimal text and are added as `numeric` (exact);
-- results go back as `numeric::text` (scale at most 12, maybe trailing zeros).
-- Every function relies on READ COMMITTED (a fresh snapshot per statement,
-- so reads after the budget locks see what earlier lock holders committed)
-- and refuses to run under another isolation level.
--
-- Calendar windows are computed by the client: a hold carries, per scope, the
-- budget spec text its period key and limit were derived from, and the
-- function answers `stale` (with the current spec) when that text differs.

-- Hold `p_amount` on every budget of `p_scopes` (distinct), or nothing.
-- p_specs[i] / p_keys[i] / p_limits[i]: the client's copy of scope i's budget
-- spec ('' when unknown), its period key at `p_now` and its limit.
-- Rows: ('held', scope) per budget held (one ('held', NULL) when none);
-- ('denied', scope, limit, spent, held); or ('stale', scope, spec) per budget
-- whose spec the client must re-read (nothing was written).
CREATE OR REPLACE FUNCTION byok_guard_hold___V__(
  p_id text, p_amount text, p_now bigint, p_expires bigint,
  p_scopes text[], p_specs text[], p_keys text[], p_limits text[])
RETURNS TABLE (r_tag text, r_scope text, r_a text, r_b text, r_c text)
LANGUAGE plpgsql
-- Settled and released holds leave dead `active = 1` entries in the
-- (scope, active, expires_at) index until vacuum. A plain index scan marks
-- them dead on first sight and skips them after; a bitmap scan (which the
-- planner likes here) never does and visits every one's heap page, so a busy
-- budget's holds would get slower with each call until the next vacuum.
SET enable_bitmapscan = off
AS $fn$
DECLARE
  b record;
  v_scopes text[] := '{}';
  v_keys text[] := '{}';
  v_limits numeric[] := '{}';
  v_amount numeric := p_amount::numeric;
  v_stale boolean := false;
  v_spent numeric;
  v_held numeric;
  j int;
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'byok-guard ledger functions need READ COMMITTED, not %',
      current_setting('transaction_isolation');
  END IF;
  -- Lock the budgets in scope order (rows are locked after the sort).
  FOR b IN
    SELECT t.scope, t.spec FROM byok_guard_budgets t
    WHERE t.scope = ANY (p_scopes) ORDER BY t.scope FOR UPDATE
  LOOP
    j := array_position(p_scopes, b.scope);
    IF p_specs[j] IS DISTINCT FROM b.spec THEN
      v_stale := true;
      r_tag := 'stale'; r_scope := b.scope; r_a := b.spec;
      RETURN NEXT;
    ELSE
      v_scopes := v_scopes || b.scope;
      v_keys := v_keys || p_keys[j];
      v_limits := v_limits || p_limits[j]::numeric;
    END IF;
  END LOOP;
  IF v_stale THEN
    RETURN;
  END IF;
  -- A repeated id is the same reservation: answer what it holds.
  IF EXISTS (SELECT 1 FROM byok_guard_reservations r WHERE r.id = p_id) THEN
    RETURN QUERY SELECT 'held'::text, h.scope, NULL::text, NULL::text, NULL::text
      FROM byok_guard_holds h WHERE h.id = p_id ORDER BY h.scope;
    IF NOT FOUND THEN
      r_tag := 'held'; r_scope := NULL;
      RETURN NEXT;
    END IF;
    RETURN;
  END IF;
  FOR j IN 1 .. coalesce(array_length(v_scopes, 1), 0) LOOP
    SELECT coalesce(sum(s.amount::numeric), 0) INTO v_spent
      FROM byok_guard_spend s WHERE s.scope = v_scopes[j] AND s.period = v_keys[j];
    -- Lapsed holds are not counted: the (scope, active, expires_at) index scans live ones only.
    SELECT coalesce(sum(h.amount::numeric), 0) INTO v_held
      FROM byok_guard_holds h
      WHERE h.scope = v_scopes[j] AND h.active = 1 AND h.expires_at > p_now;
    IF v_spent + v_held + v_amount > v_limits[j] THEN
      r_tag := 'denied'; r_scope := v_scopes[j];
      r_a := v_limits[j]::text; r_b := v_spent::text; r_c := v_held::text;
      RETURN NEXT;
      RETURN;
    END IF;
  END LOOP;
  INSERT INTO byok_guard_reservations (id, state, expires_at)
    VALUES (p_id, 'held', p_expires) ON CONFLICT (id) DO NOTHING;
  IF NOT FOUND THEN
    -- A concurrent hold with the same id committed first: it is the reservation.
    RETURN QUERY SELECT 'held'::text, h.scope, NULL::text, NULL::text, NULL::text
      FROM byok_guard_holds h WHERE h.id = p_id ORDER BY h.scope;
    IF NOT FOUND THEN
      r_tag := 'held'; r_scope := NULL;
      RETURN NEXT;
    END IF;
    RETURN;
  END IF;
  IF coalesce(array_length(v_scopes, 1), 0) = 0 THEN
    r_tag := 'held'; r_scope := NULL;
    RETURN NEXT;
    RETURN;
  END IF;
  INSERT INTO byok_guard_holds (id, scope, period, amount, expires_at, active)
    SELECT p_id, v_scopes[i], v_keys[i], p_amount, p_expires, 1
    FROM generate_subscripts(v_scopes, 1) AS i;
  FOR j IN 1 .. array_length(v_scopes, 1) LOOP
    r_tag := 'held'; r_scope := v_scopes[j];
    RETURN NEXT;
  END LOOP;
END
$fn$;

-- Settle a reservation: add `p_amount` under `p_label` to the spend of each
-- hold's scope and period, fire the thresholds it reaches, drop the holds.
-- Rows: ('not_found') | ('already') | ('released') | ('alert', scope,
-- percent, spent, limit, period) and ('spent', scope, spent, limit, period)
-- per budget... then ('settled', NULL, expires_at).
CREATE OR REPLACE FUNCTION byok_guard_settle___V__(
  p_id text, p_amount text, p_label text, p_now bigint)
RETURNS TABLE (r_tag text, r_scope text, r_a text, r_b text, r_c text, r_d text)
LANGUAGE plpgsql AS $fn$
DECLARE
  c record;
  v_state text;
  v_expires bigint;
  v_spec jsonb;
  v_limit numeric;
  v_spent numeric;
  v_pct text;
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'byok-guard ledger functions need READ COMMITTED, not %',
      current_setting('transaction_isolation');
  END IF;
  SELECT r.state, r.expires_at INTO v_state, v_expires
    FROM byok_guard_reservations r WHERE r.id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    r_tag := 'not_found'; RETURN NEXT; RETURN;
  ELSIF v_state = 'settled' THEN
    r_tag := 'already'; RETURN NEXT; RETURN;
  ELSIF v_state = 'released' THEN
    r_tag := 'released'; RETURN NEXT; RETURN;
  END IF;
  PERFORM 1 FROM byok_guard_budgets t
    WHERE t.scope IN (SELECT h.scope FROM byok_guard_holds h WHERE h.id = p_id)
    ORDER BY t.scope FOR UPDATE;
  FOR c IN
    SELECT h.scope, h.period, t.spec FROM byok_guard_holds h
      LEFT JOIN byok_guard_budgets t ON t.scope = h.scope
    WHERE h.id = p_id ORDER BY h.scope
  LOOP
    INSERT INTO byok_guard_spend AS s (scope, period, label, amount)
      VALUES (c.scope, c.period, p_label, p_amount)
      ON CONFLICT (scope, period, label)
      DO UPDATE SET amount = (s.amount::numeric + excluded.amount::numeric)::text;
    CONTINUE WHEN c.spec IS NULL;
    v_spec := c.spec::jsonb;
    v_limit := (v_spec ->> 'limit')::numeric;
    SELECT coalesce(sum(s.amount::numeric), 0) INTO v_spent
      FROM byok_guard_spend s WHERE s.scope = c.scope AND s.period = c.period;
    -- The client decides from these figures whether the budget is now over its limit.
    r_tag := 'spent'; r_scope := c.scope; r_a := v_spent::text;
    r_b := v_spec ->> 'limit'; r_c := c.period; r_d := NULL;
    RETURN NEXT;
    CONTINUE WHEN jsonb_typeof(v_spec -> 'alert_percents') IS DISTINCT FROM 'array'
      OR jsonb_array_length(v_spec -> 'alert_percents') = 0;
    CONTINUE WHEN v_spent <= 0;
    FOR v_pct IN SELECT jsonb_array_elements_text(v_spec -> 'alert_percents') LOOP
      IF v_spent * 100 >= v_limit * v_pct::numeric THEN
        INSERT INTO byok_guard_alerts (scope, period, percent)
          VALUES (c.scope, c.period, v_pct) ON CONFLICT DO NOTHING;
        IF FOUND THEN
          r_tag := 'alert'; r_scope := c.scope; r_a := v_pct;
          r_b := v_spent::text; r_c := v_spec ->> 'limit'; r_d := c.period;
          RETURN NEXT;
        END IF;
      END IF;
    END LOOP;
  END LOOP;
  UPDATE byok_guard_reservations
    SET state = 'settled', settled_at = p_now, amount = p_amount, label = p_label
    WHERE id = p_id;
  UPDATE byok_guard_holds SET active = 0 WHERE id = p_id;
  r_tag := 'settled'; r_scope := NULL; r_a := v_expires::text; r_b := NULL; r_c := NULL; r_d := NULL;
  RETURN NEXT;
END
$fn$;

-- Release a reservation's holds. Returns 'released' | 'already' | 'settled' | 'not_found'.
CREATE OR REPLACE FUNCTION byok_guard_release___V__(p_id text)
RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
  v_state text;
BEGIN
  SELECT r.state INTO v_state FROM byok_guard_reservations r WHERE r.id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 'not_found';
  ELSIF v_state = 'released' THEN
    RETURN 'already';
  ELSIF v_state = 'settled' THEN
    RETURN 'settled';
  END IF;
  PERFORM 1 FROM byok_guard_budgets t
    WHERE t.scope IN (SELECT h.scope FROM byok_guard_holds h WHERE h.id = p_id)
    ORDER BY t.scope FOR UPDATE;
  UPDATE byok_guard_reservations SET state = 'released' WHERE id = p_id;
  UPDATE byok_guard_holds SET active = 0 WHERE id = p_id;
  RETURN 'released';
END
$fn$;

-- Move the settled calls of `p_scope` settled in [p_start, p_end) whose label
-- is in `p_from` to `p_to`, on every budget each was settled into.
-- One row: calls, total, moved calls, moved.
CREATE OR REPLACE FUNCTION byok_guard_relabel___V__(
  p_scope text, p_start bigint, p_end bigint, p_from text[], p_to text)
RETURNS TABLE (r_calls bigint, r_total text, r_moved_calls bigint, r_moved text)
LANGUAGE plpgsql AS $fn$
DECLARE
  c record;
  h record;
  v_ids text[] := '{}';
  v_amounts numeric[] := '{}';
  v_labels text[] := '{}';
  v_total numeric := 0;
  v_moved numeric := 0;
  v_calls bigint := 0;
  v_moved_calls bigint := 0;
  v_label text;
  i int;
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'byok-guard ledger functions need READ COMMITTED, not %',
      current_setting('transaction_isolation');
  END IF;
  FOR c IN
    SELECT r.id, r.amount, r.label FROM byok_guard_reservations r
      JOIN byok_guard_holds x ON x.id = r.id AND x.scope = p_scope
    WHERE r.state = 'settled' AND r.settled_at >= p_start AND r.settled_at < p_end
    ORDER BY r.id
  LOOP
    v_calls := v_calls + 1;
    v_total := v_total + c.amount::numeric;
    IF c.label <> p_to AND c.label = ANY (p_from) THEN
      v_ids := v_ids || c.id;
      v_amounts := v_amounts || c.amount::numeric;
      v_labels := v_labels || c.label;
    END IF;
  END LOOP;
  IF array_length(v_ids, 1) > 0 THEN
    -- Lock the budgets every moving call counts against, in scope order.
    PERFORM 1 FROM byok_guard_budgets t
      WHERE t.scope IN (SELECT x.scope FROM byok_guard_holds x WHERE x.id = ANY (v_ids))
      ORDER BY t.scope FOR UPDATE;
    FOR i IN 1 .. array_length(v_ids, 1) LOOP
      -- Re-read under the lock: another relabel may have moved it meanwhile.
      SELECT r.label INTO v_label FROM byok_guard_reservations r WHERE r.id = v_ids[i] FOR UPDATE;
      CONTINUE WHEN v_label IS DISTINCT FROM v_labels[i];
      FOR h IN SELECT x.scope, x.period FROM byok_guard_holds x WHERE x.id = v_ids[i] ORDER BY x.scope LOOP
        INSERT INTO byok_guard_spend AS s (scope, period, label, amount)
          VALUES (h.scope, h.period, v_labels[i], (-v_amounts[i])::text)
          ON CONFLICT (scope, period, label)
          DO UPDATE SET amount = (s.amount::numeric - v_amounts[i])::text;
        INSERT INTO byok_guard_spend AS s (scope, period, label, amount)
          VALUES (h.scope, h.period, p_to, v_amounts[i]::text)
          ON CONFLICT (scope, period, label)
          DO UPDATE SET amount = (s.amount::numeric + v_amounts[i])::text;
      END LOOP;
      UPDATE byok_guard_reservations SET label = p_to WHERE id = v_ids[i];
      v_moved_calls := v_moved_calls + 1;
      v_moved := v_moved + v_amounts[i];
    END LOOP;
  END IF;
  r_calls := v_calls; r_total := v_total::text;
  r_moved_calls := v_moved_calls; r_moved := v_moved::text;
  RETURN NEXT;
END
$fn$;
