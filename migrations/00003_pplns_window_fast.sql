-- +goose Up
-- adit_pplns_window, faster (issue 5: a 1 M-share window over a 10 M-share
-- table took 1.2-2.7 s). Same arguments, same result, and the walk keeps
-- the chunk schedule and the floating-point arithmetic of 00002 (the weight
-- before the boundary is the sum of whole-chunk sums, each summed in walk
-- order; the boundary share counts target - acc - (cum - d)):
--
--  * A chunk wholly inside the window needs no window function: its running
--    sum can only reach what is left of target at its last row (weights are
--    positive, so the running sum never decreases), and that last running sum
--    is the chunk's plain ordered sum (float8pl over the same rows in the same
--    order). One query per chunk returns that sum, the chunk's last key (for
--    the keyset cursor) and the chunk's weight per address, so the window is
--    aggregated as it is walked instead of being read a second time, and no
--    chunk is sorted.
--  * Only the chunk that holds the boundary runs the running sum, as a
--    streaming `WHERE cum >= rest LIMIT 1`, and then aggregates just its rows
--    from the boundary share up. When the chunks so far predict that the next
--    one reaches target, the boundary is looked for first.
--
-- Per-address weights are summed chunk by chunk (00002 summed each address
-- in one GROUP BY in whatever order its plan read the rows, often a parallel
-- plan; neither fixes the association): for weights whose sums are exact in
-- float64 (integer and dyadic difficulties) the results are bit-identical.

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION adit_pplns_window(a_time timestamptz, a_instance text, a_id bigint,
                                             target double precision, chunk integer)
RETURNS TABLE (address text, weight double precision, shares bigint)
LANGUAGE plpgsql STABLE
-- Plan each statement for its actual cursor and LIMIT: a generic plan
-- cannot tell a 4096-row chunk from the whole table.
SET plan_cache_mode = force_custom_plan
-- The running sum over the boundary chunk keeps the rows it has read (its
-- frame starts at the chunk's first row): room for a 100 k-row chunk in
-- memory instead of a temporary file.
SET work_mem = '32MB'
AS $$
DECLARE
    acc     double precision := 0;  -- weight of the chunks fully inside
    walked  bigint := 0;            -- rows of those chunks
    rest    double precision;       -- target - acc
    k_time  timestamptz := a_time;  -- keyset cursor
    k_inst  text        := a_instance;
    k_id    bigint      := a_id;
    started boolean     := false;   -- the cursor row itself was taken
    hit     boolean;                -- the boundary is in this chunk
    c_sum   double precision;       -- this chunk: ordered sum of weights
    c_n     bigint;                 --   rows
    l_time  timestamptz;            --   last (oldest) row
    l_inst  text;
    l_id    bigint;
    p_addr  text[];                 --   weight and rows per address
    p_w     double precision[];
    p_n     bigint[];
    w_addr  text[] := '{}';         -- the window so far: per-address parts
    w_w     double precision[] := '{}'; -- of each chunk (an address may
    w_n     bigint[] := '{}';       -- repeat), summed at the end
    compact integer := 65536;       -- merge the parts when they pass this
    r_time  timestamptz;            -- the boundary row
    r_inst  text;
    r_id    bigint;
    r_cum   double precision;
    r_d     double precision;
    b_w     double precision;       -- its counted weight
    cur     integer := least(chunk, 4096); -- chunk size: doubles up to chunk
BEGIN
    IF NOT (target > 0) THEN
        RETURN;
    END IF;
    LOOP
        rest := target - acc;
        hit := false;
        -- When the chunks so far say this one probably reaches target, look
        -- for the boundary first: that saves aggregating the whole chunk
        -- only to throw it away. (A wrong guess costs one read of the chunk;
        -- the result is the same either way.)
        IF walked > 0 AND acc / walked * cur >= rest THEN
            SELECT c.t, c.i, c.n, c.cum, c.d
              INTO r_time, r_inst, r_id, r_cum, r_d
            FROM (
                SELECT o.t, o.i, o.n, o.d,
                       sum(o.d) OVER (ORDER BY o.t DESC, o.i DESC, o.n DESC ROWS UNBOUNDED PRECEDING) AS cum
                FROM (
                    SELECT sh.time AS t, sh.instance AS i, sh.id AS n, sh.assigned_difficulty AS d
                    FROM shares sh
                    WHERE sh.time <= k_time
                      AND (sh.time, sh.instance, sh.id) <= (k_time, k_inst, k_id)
                      AND NOT (started AND sh.time = k_time AND sh.instance = k_inst AND sh.id = k_id)
                      AND sh.assigned_difficulty > 0
                    ORDER BY sh.time DESC, sh.instance DESC, sh.id DESC
                    LIMIT cur
                ) o
            ) c
            WHERE c.cum >= rest
            ORDER BY c.t DESC, c.i DESC, c.n DESC
            LIMIT 1;
            hit := FOUND;
        END IF;
        IF NOT hit THEN
            -- The next chunk: its ordered sum, its last row and its weight
            -- per address (MixedAggregate: one pass, the () set in scan
            -- order, so c_sum is the chunk's last running sum).
            SELECT max(g.s) FILTER (WHERE g.tot), max(g.c) FILTER (WHERE g.tot),
                   max(g.lt) FILTER (WHERE g.tot), max(g.li) FILTER (WHERE g.tot), max(g.ln) FILTER (WHERE g.tot),
                   array_agg(g.a) FILTER (WHERE NOT g.tot), array_agg(g.s) FILTER (WHERE NOT g.tot),
                   array_agg(g.c) FILTER (WHERE NOT g.tot)
              INTO c_sum, c_n, l_time, l_inst, l_id, p_addr, p_w, p_n
            FROM (
                SELECT s.a, sum(s.d) AS s, count(*) AS c,
                       max(s.t) FILTER (WHERE s.rn = cur) AS lt,
                       max(s.i) FILTER (WHERE s.rn = cur) AS li,
                       max(s.n) FILTER (WHERE s.rn = cur) AS ln,
                       GROUPING(s.a) = 1 AS tot
                FROM (
                    SELECT o.*, row_number() OVER (ORDER BY o.t DESC, o.i DESC, o.n DESC) AS rn
                    FROM (
                        SELECT sh.time AS t, sh.instance AS i, sh.id AS n,
                               sh.address AS a, sh.assigned_difficulty AS d
                        FROM shares sh
                        WHERE sh.time <= k_time
                          AND (sh.time, sh.instance, sh.id) <= (k_time, k_inst, k_id)
                          AND NOT (started AND sh.time = k_time AND sh.instance = k_inst AND sh.id = k_id)
                          AND sh.assigned_difficulty > 0
                        ORDER BY sh.time DESC, sh.instance DESC, sh.id DESC
                        LIMIT cur
                    ) o
                ) s
                GROUP BY GROUPING SETS ((s.a), ())
            ) g;
            IF coalesce(c_n, 0) = 0 THEN
                EXIT; -- history exhausted: the window is every share walked
            END IF;
            IF c_sum < rest THEN
                -- The whole chunk is inside the window.
                w_addr := w_addr || p_addr; w_w := w_w || p_w; w_n := w_n || p_n;
                IF c_n < cur THEN
                    EXIT; -- history ends in this chunk
                END IF;
                acc := acc + c_sum;
                walked := walked + c_n;
                k_time := l_time; k_inst := l_inst; k_id := l_id;
                started := true;
                cur := least(chunk, cur * 2);
                IF cardinality(w_addr) > compact THEN
                    SELECT array_agg(m.a), array_agg(m.w), array_agg(m.n)
                      INTO w_addr, w_w, w_n
                    FROM (
                        SELECT x.a, sum(x.w) AS w, sum(x.n)::bigint AS n
                        FROM unnest(w_addr, w_w, w_n) AS x(a, w, n)
                        GROUP BY x.a
                    ) m;
                    compact := greatest(compact, 4 * cardinality(w_addr));
                END IF;
                CONTINUE;
            END IF;
            -- The boundary is in this chunk: the first row whose running
            -- sum reaches rest (the running sum streams; LIMIT 1 stops it).
            SELECT c.t, c.i, c.n, c.cum, c.d
              INTO r_time, r_inst, r_id, r_cum, r_d
            FROM (
                SELECT o.t, o.i, o.n, o.d,
                       sum(o.d) OVER (ORDER BY o.t DESC, o.i DESC, o.n DESC ROWS UNBOUNDED PRECEDING) AS cum
                FROM (
                    SELECT sh.time AS t, sh.instance AS i, sh.id AS n, sh.assigned_difficulty AS d
                    FROM shares sh
                    WHERE sh.time <= k_time
                      AND (sh.time, sh.instance, sh.id) <= (k_time, k_inst, k_id)
                      AND NOT (started AND sh.time = k_time AND sh.instance = k_inst AND sh.id = k_id)
                      AND sh.assigned_difficulty > 0
                    ORDER BY sh.time DESC, sh.instance DESC, sh.id DESC
                    LIMIT cur
                ) o
            ) c
            WHERE c.cum >= rest
            ORDER BY c.t DESC, c.i DESC, c.n DESC
            LIMIT 1;
        END IF;
        b_w := target - acc - (r_cum - r_d);
        -- This chunk's part of the window: its rows from the boundary row
        -- up, the boundary row counted for b_w.
        SELECT array_agg(g.a), array_agg(g.s), array_agg(g.c)
          INTO p_addr, p_w, p_n
        FROM (
            SELECT sh.address AS a,
                   sum(CASE WHEN sh.time = r_time AND sh.instance = r_inst AND sh.id = r_id
                            THEN b_w ELSE sh.assigned_difficulty END) AS s,
                   count(*) AS c
            FROM shares sh
            WHERE sh.time >= r_time AND sh.time <= k_time
              AND (sh.time, sh.instance, sh.id) >= (r_time, r_inst, r_id)
              AND (sh.time, sh.instance, sh.id) <= (k_time, k_inst, k_id)
              AND NOT (started AND sh.time = k_time AND sh.instance = k_inst AND sh.id = k_id)
              AND sh.assigned_difficulty > 0
            GROUP BY sh.address
        ) g;
        w_addr := w_addr || p_addr; w_w := w_w || p_w; w_n := w_n || p_n;
        EXIT;
    END LOOP;
    RETURN QUERY
    SELECT x.a, sum(x.w), sum(x.n)::bigint
    FROM unnest(w_addr, w_w, w_n) AS x(a, w, n)
    GROUP BY x.a;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
-- The 00002 version.
CREATE OR REPLACE FUNCTION adit_pplns_window(a_time timestamptz, a_instance text, a_id bigint,
                                             target double precision, chunk integer)
RETURNS TABLE (address text, weight double precision, shares bigint)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    acc     double precision := 0;
    k_time  timestamptz := a_time;
    k_inst  text        := a_instance;
    k_id    bigint      := a_id;
    started boolean     := false;
    r_time  timestamptz;
    r_inst  text;
    r_id    bigint;
    r_cum   double precision;
    r_d     double precision;
    r_hit   boolean;
    b_time  timestamptz;
    b_inst  text;
    b_id    bigint;
    b_w     double precision;
    cur     integer := least(chunk, 4096);
BEGIN
    IF NOT (target > 0) THEN
        RETURN;
    END IF;
    LOOP
        SELECT q.t, q.i, q.n, q.cum, q.d, q.hit
          INTO r_time, r_inst, r_id, r_cum, r_d, r_hit
        FROM (
            SELECT c.t, c.i, c.n, c.d, c.cum, c.rn, (c.cum >= target - acc) AS hit
            FROM (
                SELECT s.t, s.i, s.n, s.d,
                       sum(s.d) OVER (ORDER BY s.t DESC, s.i DESC, s.n DESC ROWS UNBOUNDED PRECEDING) AS cum,
                       row_number() OVER (ORDER BY s.t DESC, s.i DESC, s.n DESC) AS rn
                FROM (
                    SELECT sh.time AS t, sh.instance AS i, sh.id AS n, sh.assigned_difficulty AS d
                    FROM shares sh
                    WHERE sh.time <= k_time
                      AND (sh.time, sh.instance, sh.id) <= (k_time, k_inst, k_id)
                      AND NOT (started AND sh.time = k_time AND sh.instance = k_inst AND sh.id = k_id)
                      AND sh.assigned_difficulty > 0
                    ORDER BY sh.time DESC, sh.instance DESC, sh.id DESC
                    LIMIT cur
                ) s
            ) c
        ) q
        ORDER BY q.hit DESC, CASE WHEN q.hit THEN q.rn ELSE -q.rn END
        LIMIT 1;
        IF NOT FOUND THEN
            EXIT;
        END IF;
        b_time := r_time; b_inst := r_inst; b_id := r_id;
        IF r_hit THEN
            b_w := target - acc - (r_cum - r_d);
            EXIT;
        END IF;
        b_w := r_d;
        acc := acc + r_cum;
        k_time := r_time; k_inst := r_inst; k_id := r_id;
        started := true;
        cur := least(chunk, cur * 2);
    END LOOP;
    IF b_time IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT sh.address,
           sum(CASE WHEN sh.time = b_time AND sh.instance = b_inst AND sh.id = b_id
                    THEN b_w ELSE sh.assigned_difficulty END),
           count(*)
    FROM shares sh
    WHERE sh.time >= b_time AND sh.time <= a_time
      AND (sh.time, sh.instance, sh.id) >= (b_time, b_inst, b_id)
      AND (sh.time, sh.instance, sh.id) <= (a_time, a_instance, a_id)
      AND sh.assigned_difficulty > 0
    GROUP BY sh.address;
END
$$;
-- +goose StatementEnd
