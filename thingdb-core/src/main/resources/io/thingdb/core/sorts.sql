-- ThingDB sort functions for PostgreSQL 14 or later (extract(epoch ...) must return numeric).
--
-- The same formulas as io.thingdb.listings.Sorts, evaluated in double precision in the same
-- operation order, so that ORDER BY in SQL agrees with the listings built in Java:
--   thingdb_score       bit for bit;
--   thingdb_confidence  bit for bit (same IEEE operations, correctly rounded sqrt);
--   thingdb_controversy within one ulp (C pow here, Math.pow in Java);
--   thingdb_hot         bit for bit (the rounding is exact), except where the C library's log10
--                       and Java's StrictMath.log10 differ by one ulp and that ulp decides the 7th
--                       decimal: the 7th decimal is the most they can differ by.
-- A NULL argument gives NULL. Safe to run again: every function is CREATE OR REPLACE.

-- score = ups - downs, without bigint overflow.
CREATE OR REPLACE FUNCTION thingdb_score(ups bigint, downs bigint)
    RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT (ups::numeric - downs)::double precision
$$;

-- hot = round(sign(s) * log10(max(|s|, 1)) + (epoch_seconds(date) - 1134028003) / 45000, 7)
-- with s = ups - downs, epoch_seconds = whole seconds + microseconds / 10^6 (two roundings, as
-- the original Python did), and round = Python 3's: the exact binary value rounded half-to-even
-- at 7 decimals, a zero result keeping the sign of its input (-0.0, which ORDER BY treats as 0).
CREATE OR REPLACE FUNCTION thingdb_hot(ups bigint, downs bigint, date timestamptz)
    RETURNS double precision
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    s             numeric := ups::numeric - downs;
    exact_epoch   numeric;
    epoch_seconds double precision;
    x             double precision;
    j             integer;
    scaled        numeric;
    denominator   numeric;
    quotient      numeric;
    twice_rest    numeric;
BEGIN
    IF NOT isfinite(date) THEN
        RAISE EXCEPTION 'thingdb_hot needs a finite date (date=%)', date
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    exact_epoch := extract(epoch FROM date);
    epoch_seconds := floor(exact_epoch)::double precision
                     + ((exact_epoch - floor(exact_epoch)) * 1000000)::double precision / 1000000;
    x := sign(s)::double precision * log(greatest(abs(s), 1)::double precision)
         + (epoch_seconds - 1134028003) / 45000;

    -- Round the exact binary value of x, not x::numeric (15 significant digits) nor its shortest
    -- decimal (15088.38171115 is the shortest form of 15088.381711149999...), and break ties to
    -- even, not away from zero like round(numeric).
    IF abs(x) < 1e-8 THEN
        RETURN x * 0;                 -- rounds to zero; x * 0 keeps the sign, like Python
    END IF;
    IF abs(x) >= 4503599627370496 THEN
        RETURN x;                     -- 2^52 or more: x is a whole number already
    END IF;
    -- x = M / 2^j exactly for an integer M below 2^55, if j is 52 - floor(log2 |x|) or one more
    -- or two more; the floating-point logarithm is off by at most one.
    j := 53 - floor(ln(abs(x)) / ln(2::double precision))::integer;
    scaled := (x * (2::double precision ^ j))::bigint::numeric * 10000000;
    denominator := (1::bigint << least(j, 62))::numeric * (1::bigint << greatest(j - 62, 0))::numeric;
    quotient := div(scaled, denominator);
    twice_rest := 2 * abs(scaled - quotient * denominator);
    IF twice_rest > denominator OR (twice_rest = denominator AND mod(quotient, 2) <> 0) THEN
        quotient := quotient + sign(scaled);
    END IF;
    IF quotient = 0 THEN
        RETURN x * 0;
    END IF;
    RETURN (quotient * 0.0000001)::double precision;
END
$$;

-- controversy = 0 if ups <= 0 or downs <= 0, else (ups + downs) ^ (min(ups, downs) / max(ups, downs)).
CREATE OR REPLACE FUNCTION thingdb_controversy(ups bigint, downs bigint)
    RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
               WHEN ups <= 0 OR downs <= 0 THEN 0
               ELSE power((ups::numeric + downs)::double precision,
                          least(ups, downs)::double precision / greatest(ups, downs)::double precision)
           END
$$;

-- confidence = lower bound of the Wilson score interval, z = 1.281551565545, n = ups + downs,
-- p = ups / n: 0 if n = 0, else (p + 1/(2n)*z*z - z*sqrt(p*(1-p)/n + z*z/(4*n*n))) / (1 + 1/n*z*z),
-- in the original site's operation order. Negative counts are rejected.
CREATE OR REPLACE FUNCTION thingdb_confidence(ups bigint, downs bigint)
    RETURNS double precision
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    z      CONSTANT double precision := 1.281551565545;
    n      double precision;
    p      double precision;
    centre double precision;
    margin double precision;
    under  double precision;
BEGIN
    IF ups < 0 OR downs < 0 THEN
        RAISE EXCEPTION 'thingdb_confidence needs vote counts that are not negative (ups=%, downs=%)', ups, downs
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    n := (ups::numeric + downs)::double precision;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    p := ups::double precision / n;
    centre := p + 1 / (2 * n) * z * z;
    margin := z * sqrt(p * (1 - p) / n + z * z / (4 * n * n));
    under := 1 + 1 / n * z * z;
    RETURN (centre - margin) / under;
END
$$;
