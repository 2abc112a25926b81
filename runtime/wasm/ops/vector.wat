;; The wasm backend's exp-bound elementwise loops in f32 WebAssembly SIMD (vector.ts calls them):
;; the softmax rows of cross-entropy, both GELUs and their gradients, layernorm's and rmsnorm's rows, and the
;; elementwise sums and scalings of equal-shaped operands. Four values per
;; instruction, one exp each, on a memory of this module's own that vector.ts stages values in.
;;
;; exp is Cephes' expf: x clamped to [−87.34, 88.38] (so 2^k stays a normal f32; below, the
;; result is 1.2e-38 instead of a smaller number or 0, nothing next to a softmax sum ≥ 1 or to
;; 1 + e in GELU), k = nearest(x·log2 e), r = x − k·ln2 in two parts, e^r by a degree-7
;; polynomial (about 1 ulp), times 2^k built in the exponent bits. NaN stays NaN.
;; Pointers are byte offsets, counts are floats. Assembled by `npm run build:wasm`
;; (scripts/build-wasm.ts) into vector-bytes.ts.
(module
  (memory (export "memory") 1 65536)

  (func $exp (param $x v128) (result v128)
    (local $t v128) (local $k v128) (local $r v128) (local $p v128)
    (local.set $x (f32x4.max (f32x4.min (local.get $x) (v128.const f32x4 88.3762626647949 88.3762626647949 88.3762626647949 88.3762626647949))
                             (v128.const f32x4 -87.3365447505531 -87.3365447505531 -87.3365447505531 -87.3365447505531)))
    ;; k = nearest(x·log2 e) by adding 1.5·2^23: t's low mantissa bits then hold k (|k| < 2^22),
    ;; cheaper than f32x4.nearest and a float-to-int conversion
    (local.set $t (f32x4.add (f32x4.mul (local.get $x) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341))
                             (v128.const f32x4 12582912 12582912 12582912 12582912)))
    (local.set $k (f32x4.sub (local.get $t) (v128.const f32x4 12582912 12582912 12582912 12582912)))
    (local.set $r (f32x4.sub (local.get $x) (f32x4.mul (local.get $k) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))
    (local.set $r (f32x4.add (local.get $r) (f32x4.mul (local.get $k) (v128.const f32x4 2.12194440e-4 2.12194440e-4 2.12194440e-4 2.12194440e-4))))
    (local.set $p (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
    ;; p·r² + r + 1
    (local.set $p (f32x4.add (f32x4.add (f32x4.mul (local.get $p) (f32x4.mul (local.get $r) (local.get $r))) (local.get $r))
                             (v128.const f32x4 1 1 1 1)))
    ;; · 2^k: (k + 127) << 23 is 2^k's bit pattern, k = t's bits − 1.5·2^23's (0x4b400000)
    (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (local.get $t) (v128.const i32x4 -1262485377 -1262485377 -1262485377 -1262485377)) (i32.const 23))))

;; The largest of n floats at p, NaN skipped (as `if (x > max) max = x` does); −Infinity for none.
  (func (export "row_max") (param $p i32) (param $n i32) (result f32)
    (local $end i32) (local $end4 i32) (local $acc v128) (local $m f32) (local $x f32)
    (local.set $acc (v128.const f32x4 -inf -inf -inf -inf))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end4)))
      ;; pmax(acc, x) = acc < x ? x : acc keeps acc where x is NaN
      (local.set $acc (f32x4.pmax (local.get $acc) (v128.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l)))
    (local.set $m (f32x4.extract_lane 0 (local.get $acc)))
    (if (f32.gt (f32x4.extract_lane 1 (local.get $acc)) (local.get $m)) (then (local.set $m (f32x4.extract_lane 1 (local.get $acc)))))
    (if (f32.gt (f32x4.extract_lane 2 (local.get $acc)) (local.get $m)) (then (local.set $m (f32x4.extract_lane 2 (local.get $acc)))))
    (if (f32.gt (f32x4.extract_lane 3 (local.get $acc)) (local.get $m)) (then (local.set $m (f32x4.extract_lane 3 (local.get $acc)))))
    (block $tdone (loop $tl
      (br_if $tdone (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $x (f32.load (local.get $p)))
      (if (f32.gt (local.get $x) (local.get $m)) (then (local.set $m (local.get $x))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $tl)))
    (local.get $m))

  ;; In place over n floats at p: x ← exp(x − shift); returns Σ of the results, summed in f64.
  (func (export "exp_shift_sum") (param $p i32) (param $n i32) (param $shift f32) (result f64)
    (local $end i32) (local $end4 i32) (local $s v128) (local $e v128) (local $acc0 v128) (local $acc1 v128)
    (local.set $s (f32x4.splat (local.get $shift)))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end4)))
      (local.set $e (call $exp (f32x4.sub (v128.load (local.get $p)) (local.get $s))))
      (v128.store (local.get $p) (local.get $e))
      (local.set $acc0 (f64x2.add (local.get $acc0) (f64x2.promote_low_f32x4 (local.get $e))))
      (local.set $acc1 (f64x2.add (local.get $acc1)
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $e) (local.get $e)))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l)))
    ;; the last n mod 4, one lane at a time
    (block $tdone (loop $tl
      (br_if $tdone (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $e (call $exp (f32x4.splat (f32.sub (f32.load (local.get $p)) (local.get $shift)))))
      (f32.store (local.get $p) (f32x4.extract_lane 0 (local.get $e)))
      (local.set $acc0 (f64x2.add (local.get $acc0) (f64x2.promote_low_f32x4 (v128.and (local.get $e) (v128.const i32x4 -1 0 0 0)))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $tl)))
    (local.set $acc0 (f64x2.add (local.get $acc0) (local.get $acc1)))
    (f64.add (f64x2.extract_lane 0 (local.get $acc0)) (f64x2.extract_lane 1 (local.get $acc0))))

  ;; gelu, tanh form, as x·σ(2u): e = exp(min(−2u, 80)), y = x / (1 + e), u = √(2/π)·x·(1 + 0.044715·x²).
  (func $gelu (param $x v128) (result v128)
    (local $e v128)
    (local.set $e (call $exp (f32x4.min (f32x4.mul (f32x4.mul (local.get $x) (v128.const f32x4 -1.5957691216057308 -1.5957691216057308 -1.5957691216057308 -1.5957691216057308))
        (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (v128.const f32x4 0.044715 0.044715 0.044715 0.044715) (f32x4.mul (local.get $x) (local.get $x)))))
      (v128.const f32x4 80 80 80 80))))
    (f32x4.div (local.get $x) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $e))))

  ;; gelu': s + 2x·e·s²·√(2/π)·(1 + 3·0.044715·x²), s = 1/(1 + e), e as in $gelu.
  (func $gelu_grad (param $x v128) (result v128)
    (local $x2 v128) (local $e v128) (local $s v128)
    (local.set $x2 (f32x4.mul (local.get $x) (local.get $x)))
    (local.set $e (call $exp (f32x4.min (f32x4.mul (f32x4.mul (local.get $x) (v128.const f32x4 -1.5957691216057308 -1.5957691216057308 -1.5957691216057308 -1.5957691216057308))
        (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (v128.const f32x4 0.044715 0.044715 0.044715 0.044715) (local.get $x2))))
      (v128.const f32x4 80 80 80 80))))
    (local.set $s (f32x4.div (v128.const f32x4 1 1 1 1) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $e))))
    (f32x4.add (local.get $s)
      (f32x4.mul (f32x4.mul (f32x4.mul (local.get $e) (local.get $s)) (local.get $s))
        (f32x4.mul (f32x4.mul (local.get $x) (v128.const f32x4 1.5957691216057308 1.5957691216057308 1.5957691216057308 1.5957691216057308))
          (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (v128.const f32x4 0.134145 0.134145 0.134145 0.134145) (local.get $x2)))))))

  ;; In place over n floats at p (n a multiple of 4: vector.ts pads): x ← gelu(x).
  (func (export "gelu") (param $p i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (v128.store (local.get $p) (call $gelu (v128.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l))))

  ;; Over n floats (a multiple of 4): x at p ← dy · gelu'(x), dy at q.
  (func (export "gelu_grad") (param $p i32) (param $q i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (v128.store (local.get $p) (f32x4.mul (v128.load (local.get $q)) (call $gelu_grad (v128.load (local.get $p)))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $q (i32.add (local.get $q) (i32.const 16)))
      (br $l))))
;; Φ(x) = 0.5·erfc(−x/√2), erfc(z) = t·exp(P(t) − z²) for z ≥ 0, t = 1/(1 + z/2): Numerical
  ;; Recipes' Chebyshev fit (erfcc, fractional error < 1.2e-7), on |z|, then 1 − that for x > 0.
  (func $phi (param $x v128) (result v128)
    (local $z v128) (local $t v128) (local $p v128) (local $c v128)
    (local.set $z (f32x4.abs (f32x4.mul (local.get $x) (v128.const f32x4 0.7071067811865476 0.7071067811865476 0.7071067811865476 0.7071067811865476))))
    (local.set $t (f32x4.div (v128.const f32x4 1 1 1 1) (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $z) (v128.const f32x4 0.5 0.5 0.5 0.5)))))
    (local.set $p (v128.const f32x4 0.17087277 0.17087277 0.17087277 0.17087277))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (v128.const f32x4 -0.82215223 -0.82215223 -0.82215223 -0.82215223)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (v128.const f32x4 1.48851587 1.48851587 1.48851587 1.48851587)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (v128.const f32x4 -1.13520398 -1.13520398 -1.13520398 -1.13520398)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (v128.const f32x4 0.27886807 0.27886807 0.27886807 0.27886807)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (v128.const f32x4 -0.18628806 -0.18628806 -0.18628806 -0.18628806)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (v128.const f32x4 0.09678418 0.09678418 0.09678418 0.09678418)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (v128.const f32x4 0.37409196 0.37409196 0.37409196 0.37409196)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (v128.const f32x4 1.00002368 1.00002368 1.00002368 1.00002368)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (v128.const f32x4 -1.26551223 -1.26551223 -1.26551223 -1.26551223)))
    ;; c = 0.5·erfc(|z|), the smaller side
    (local.set $c (f32x4.mul (f32x4.mul (local.get $t) (v128.const f32x4 0.5 0.5 0.5 0.5))
      (call $exp (f32x4.sub (local.get $p) (f32x4.mul (local.get $z) (local.get $z))))))
    (v128.bitselect (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $c)) (local.get $c)
      (f32x4.gt (local.get $x) (v128.const f32x4 0 0 0 0))))

  ;; In place over n floats at p (a multiple of 4): x ← x·Φ(x).
  (func (export "gelu_erf") (param $p i32) (param $n i32)
    (local $end i32) (local $x v128)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $x (v128.load (local.get $p)))
      (v128.store (local.get $p) (f32x4.mul (local.get $x) (call $phi (local.get $x))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l))))

  ;; Over n floats (a multiple of 4): x at p ← dy·(Φ(x) + x·exp(−x²/2)/√(2π)), dy at q.
  (func (export "gelu_erf_grad") (param $p i32) (param $q i32) (param $n i32)
    (local $end i32) (local $x v128)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $x (v128.load (local.get $p)))
      (v128.store (local.get $p) (f32x4.mul (v128.load (local.get $q))
        (f32x4.add (call $phi (local.get $x))
          (f32x4.mul (f32x4.mul (local.get $x) (v128.const f32x4 0.3989422804014327 0.3989422804014327 0.3989422804014327 0.3989422804014327))
            (call $exp (f32x4.mul (f32x4.mul (local.get $x) (local.get $x)) (v128.const f32x4 -0.5 -0.5 -0.5 -0.5)))))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $q (i32.add (local.get $q) (i32.const 16)))
      (br $l))))
;; ---- layernorm over rows of d floats (d a multiple of 4: vector.ts checks), statistics in f64.

  ;; The f32x4 at p as two f64x2: its low and its high half.
  (func $lo (param $v v128) (result v128) (f64x2.promote_low_f32x4 (local.get $v)))
  (func $hi (param $v v128) (result v128)
    (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
  (func $sum2 (param $v v128) (result f64)
    (f64.add (f64x2.extract_lane 0 (local.get $v)) (f64x2.extract_lane 1 (local.get $v))))

  ;; Σ x over the row at p.
  (func $row_sum (param $p i32) (param $d i32) (result f64)
    (local $end i32) (local $acc v128) (local $v v128)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $d) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $v (v128.load (local.get $p)))
      (local.set $acc (f64x2.add (local.get $acc) (f64x2.add (call $lo (local.get $v)) (call $hi (local.get $v)))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l)))
    (call $sum2 (local.get $acc)))

  ;; Σ (x − mean)² over the row at p.
  (func $row_ss (param $p i32) (param $d i32) (param $mean f64) (result f64)
    (local $end i32) (local $acc v128) (local $v v128) (local $m v128) (local $a v128) (local $b v128)
    (local.set $m (f64x2.splat (local.get $mean)))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $d) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $v (v128.load (local.get $p)))
      (local.set $a (f64x2.sub (call $lo (local.get $v)) (local.get $m)))
      (local.set $b (f64x2.sub (call $hi (local.get $v)) (local.get $m)))
      (local.set $acc (f64x2.add (local.get $acc) (f64x2.add (f64x2.mul (local.get $a) (local.get $a)) (f64x2.mul (local.get $b) (local.get $b)))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l)))
    (call $sum2 (local.get $acc)))

  ;; 1/sqrt(Σ(x − mean)²/d + eps) of the row at p.
  (func $row_rstd (param $p i32) (param $d i32) (param $mean f64) (param $eps f64) (result f64)
    (f64.div (f64.const 1) (f64.sqrt (f64.add (f64.div (call $row_ss (local.get $p) (local.get $d) (local.get $mean)) (f64.convert_i32_u (local.get $d))) (local.get $eps)))))

  ;; In place over rows·d floats at x: x ← (x − mean)·rstd·g + b per row, g and b d floats.
  ;; x − mean in f32 as (x − mean_hi) − mean_lo, the mean split in two f32s, so a mean large
  ;; against the spread loses nothing.
  (func (export "layernorm") (param $x i32) (param $g i32) (param $b i32) (param $rows i32) (param $d i32) (param $eps f64)
    (local $r i32) (local $p i32) (local $j i32) (local $mean f64) (local $rstd f64) (local $mh f32)
    (local $vmh v128) (local $vml v128) (local $vrs v128)
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $p (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
      (local.set $mean (f64.div (call $row_sum (local.get $p) (local.get $d)) (f64.convert_i32_u (local.get $d))))
      (local.set $rstd (call $row_rstd (local.get $p) (local.get $d) (local.get $mean) (local.get $eps)))
      (local.set $mh (f32.demote_f64 (local.get $mean)))
      (local.set $vmh (f32x4.splat (local.get $mh)))
      (local.set $vml (f32x4.splat (f32.demote_f64 (f64.sub (local.get $mean) (f64.promote_f32 (local.get $mh))))))
      (local.set $vrs (f32x4.splat (f32.demote_f64 (local.get $rstd))))
      (local.set $j (i32.const 0))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_u (local.get $j) (i32.shl (local.get $d) (i32.const 2))))
        (v128.store (i32.add (local.get $p) (local.get $j))
          (f32x4.add
            (f32x4.mul
              (f32x4.mul (f32x4.sub (f32x4.sub (v128.load (i32.add (local.get $p) (local.get $j))) (local.get $vmh)) (local.get $vml)) (local.get $vrs))
              (v128.load (i32.add (local.get $g) (local.get $j))))
            (v128.load (i32.add (local.get $b) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $jl)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl))))

  ;; In place over rows·d floats at x, dy at dy: x ← rstd·ĝ + c·(x − mean) + k per row, ĝ = dy·g,
  ;; c = −rstd³·Σĝ(x − mean)/d, k = −rstd·Σĝ/d (the sums in f64).
  (func (export "layernorm_grad_x") (param $x i32) (param $dy i32) (param $g i32) (param $rows i32) (param $d i32) (param $eps f64)
    (local $r i32) (local $p i32) (local $q i32) (local $j i32) (local $mean f64) (local $rstd f64) (local $mh f32)
    (local $vmh v128) (local $vml v128) (local $vrs v128) (local $vc v128) (local $vk v128)
    (local $m v128) (local $sg v128) (local $sgc v128) (local $v v128) (local $w v128) (local $gl v128) (local $gh v128)
    (local $c f64) (local $dd f64)
    (local.set $dd (f64.convert_i32_u (local.get $d)))
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $p (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
      (local.set $q (i32.add (local.get $dy) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
      (local.set $mean (f64.div (call $row_sum (local.get $p) (local.get $d)) (local.get $dd)))
      (local.set $rstd (call $row_rstd (local.get $p) (local.get $d) (local.get $mean) (local.get $eps)))
      (local.set $m (f64x2.splat (local.get $mean)))
      (local.set $sg (v128.const i64x2 0 0))
      (local.set $sgc (v128.const i64x2 0 0))
      (local.set $j (i32.const 0))
      (block $sdone (loop $sl
        (br_if $sdone (i32.ge_u (local.get $j) (i32.shl (local.get $d) (i32.const 2))))
        (local.set $v (v128.load (i32.add (local.get $p) (local.get $j))))
        (local.set $w (v128.load (i32.add (local.get $q) (local.get $j))))
        (local.set $gl (f64x2.mul (call $lo (local.get $w)) (call $lo (v128.load (i32.add (local.get $g) (local.get $j))))))
        (local.set $gh (f64x2.mul (call $hi (local.get $w)) (call $hi (v128.load (i32.add (local.get $g) (local.get $j))))))
        (local.set $sg (f64x2.add (local.get $sg) (f64x2.add (local.get $gl) (local.get $gh))))
        (local.set $sgc (f64x2.add (local.get $sgc)
          (f64x2.add (f64x2.mul (local.get $gl) (f64x2.sub (call $lo (local.get $v)) (local.get $m)))
                     (f64x2.mul (local.get $gh) (f64x2.sub (call $hi (local.get $v)) (local.get $m))))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $sl)))
      (local.set $c (f64.div (f64.mul (f64.neg (f64.mul (local.get $rstd) (f64.mul (local.get $rstd) (local.get $rstd)))) (call $sum2 (local.get $sgc))) (local.get $dd)))
      (local.set $vc (f32x4.splat (f32.demote_f64 (local.get $c))))
      (local.set $vk (f32x4.splat (f32.demote_f64 (f64.div (f64.mul (f64.neg (local.get $rstd)) (call $sum2 (local.get $sg))) (local.get $dd)))))
      (local.set $mh (f32.demote_f64 (local.get $mean)))
      (local.set $vmh (f32x4.splat (local.get $mh)))
      (local.set $vml (f32x4.splat (f32.demote_f64 (f64.sub (local.get $mean) (f64.promote_f32 (local.get $mh))))))
      (local.set $vrs (f32x4.splat (f32.demote_f64 (local.get $rstd))))
      (local.set $j (i32.const 0))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_u (local.get $j) (i32.shl (local.get $d) (i32.const 2))))
        (v128.store (i32.add (local.get $p) (local.get $j))
          (f32x4.add
            (f32x4.add
              (f32x4.mul (local.get $vrs) (f32x4.mul (v128.load (i32.add (local.get $q) (local.get $j))) (v128.load (i32.add (local.get $g) (local.get $j)))))
              (f32x4.mul (local.get $vc) (f32x4.sub (f32x4.sub (v128.load (i32.add (local.get $p) (local.get $j))) (local.get $vmh)) (local.get $vml))))
            (local.get $vk)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $jl)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl))))

  ;; acc[j] (d f64s at acc) += Σ_rows dy·(x − mean)·rstd, in f64.
  (func (export "layernorm_grad_gamma") (param $x i32) (param $dy i32) (param $acc i32) (param $rows i32) (param $d i32) (param $eps f64)
    (local $r i32) (local $p i32) (local $q i32) (local $j i32) (local $a i32) (local $mean f64)
    (local $m v128) (local $rs v128) (local $v v128) (local $w v128) (local $dd f64)
    (local.set $dd (f64.convert_i32_u (local.get $d)))
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $p (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
      (local.set $q (i32.add (local.get $dy) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
      (local.set $mean (f64.div (call $row_sum (local.get $p) (local.get $d)) (local.get $dd)))
      (local.set $m (f64x2.splat (local.get $mean)))
      (local.set $rs (f64x2.splat (call $row_rstd (local.get $p) (local.get $d) (local.get $mean) (local.get $eps))))
      (local.set $j (i32.const 0))
      (local.set $a (local.get $acc))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_u (local.get $j) (i32.shl (local.get $d) (i32.const 2))))
        (local.set $v (v128.load (i32.add (local.get $p) (local.get $j))))
        (local.set $w (v128.load (i32.add (local.get $q) (local.get $j))))
        (v128.store (local.get $a) (f64x2.add (v128.load (local.get $a))
          (f64x2.mul (call $lo (local.get $w)) (f64x2.mul (f64x2.sub (call $lo (local.get $v)) (local.get $m)) (local.get $rs)))))
        (v128.store offset=16 (local.get $a) (f64x2.add (v128.load offset=16 (local.get $a))
          (f64x2.mul (call $hi (local.get $w)) (f64x2.mul (f64x2.sub (call $hi (local.get $v)) (local.get $m)) (local.get $rs)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (local.set $a (i32.add (local.get $a) (i32.const 32)))
        (br $jl)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl))))
;; ---- rmsnorm over rows of d floats (d a multiple of 4), sums in f64.

  ;; 1/sqrt(Σx²/d + eps) of the row at p.
  (func $row_inv_rms (param $p i32) (param $d i32) (param $eps f64) (result f64)
    (local $end i32) (local $acc v128) (local $v v128) (local $a v128) (local $b v128)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $d) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $v (v128.load (local.get $p)))
      (local.set $a (call $lo (local.get $v)))
      (local.set $b (call $hi (local.get $v)))
      (local.set $acc (f64x2.add (local.get $acc) (f64x2.add (f64x2.mul (local.get $a) (local.get $a)) (f64x2.mul (local.get $b) (local.get $b)))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l)))
    (f64.div (f64.const 1) (f64.sqrt (f64.add (f64.div (call $sum2 (local.get $acc)) (f64.convert_i32_u (local.get $d))) (local.get $eps)))))

  ;; In place over rows·d floats at x: x ← x·r·g per row, r = 1/rms.
  (func (export "rmsnorm") (param $x i32) (param $g i32) (param $rows i32) (param $d i32) (param $eps f64)
    (local $r i32) (local $p i32) (local $j i32) (local $vr v128)
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $p (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
      (local.set $vr (f32x4.splat (f32.demote_f64 (call $row_inv_rms (local.get $p) (local.get $d) (local.get $eps)))))
      (local.set $j (i32.const 0))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_u (local.get $j) (i32.shl (local.get $d) (i32.const 2))))
        (v128.store (i32.add (local.get $p) (local.get $j))
          (f32x4.mul (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $j))) (local.get $vr)) (v128.load (i32.add (local.get $g) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $jl)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl))))

  ;; In place over rows·d floats at x, dy at dy: x ← r·dy·g − x·c per row, c = r³·Σ(dy·g·x)/d (f64).
  (func (export "rmsnorm_grad_x") (param $x i32) (param $dy i32) (param $g i32) (param $rows i32) (param $d i32) (param $eps f64)
    (local $r i32) (local $p i32) (local $q i32) (local $j i32) (local $rr f64) (local $acc v128)
    (local $v v128) (local $w v128) (local $gg v128) (local $vr v128) (local $vc v128)
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $p (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
      (local.set $q (i32.add (local.get $dy) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
      (local.set $rr (call $row_inv_rms (local.get $p) (local.get $d) (local.get $eps)))
      (local.set $acc (v128.const i64x2 0 0))
      (local.set $j (i32.const 0))
      (block $sdone (loop $sl
        (br_if $sdone (i32.ge_u (local.get $j) (i32.shl (local.get $d) (i32.const 2))))
        (local.set $v (v128.load (i32.add (local.get $p) (local.get $j))))
        (local.set $w (v128.load (i32.add (local.get $q) (local.get $j))))
        (local.set $gg (v128.load (i32.add (local.get $g) (local.get $j))))
        (local.set $acc (f64x2.add (local.get $acc)
          (f64x2.add (f64x2.mul (f64x2.mul (call $lo (local.get $w)) (call $lo (local.get $gg))) (call $lo (local.get $v)))
                     (f64x2.mul (f64x2.mul (call $hi (local.get $w)) (call $hi (local.get $gg))) (call $hi (local.get $v))))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $sl)))
      (local.set $vr (f32x4.splat (f32.demote_f64 (local.get $rr))))
      (local.set $vc (f32x4.splat (f32.demote_f64 (f64.div (f64.mul (f64.mul (local.get $rr) (f64.mul (local.get $rr) (local.get $rr))) (call $sum2 (local.get $acc))) (f64.convert_i32_u (local.get $d))))))
      (local.set $j (i32.const 0))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_u (local.get $j) (i32.shl (local.get $d) (i32.const 2))))
        (v128.store (i32.add (local.get $p) (local.get $j))
          (f32x4.sub
            (f32x4.mul (local.get $vr) (f32x4.mul (v128.load (i32.add (local.get $q) (local.get $j))) (v128.load (i32.add (local.get $g) (local.get $j)))))
            (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $j))) (local.get $vc))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $jl)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl))))

  ;; acc[j] (d f64s at acc) += Σ_rows dy·x·r, in f64.
  (func (export "rmsnorm_grad_gamma") (param $x i32) (param $dy i32) (param $acc i32) (param $rows i32) (param $d i32) (param $eps f64)
    (local $r i32) (local $p i32) (local $q i32) (local $j i32) (local $a i32) (local $rs v128) (local $v v128) (local $w v128)
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $p (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
      (local.set $q (i32.add (local.get $dy) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
      (local.set $rs (f64x2.splat (call $row_inv_rms (local.get $p) (local.get $d) (local.get $eps))))
      (local.set $j (i32.const 0))
      (local.set $a (local.get $acc))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_u (local.get $j) (i32.shl (local.get $d) (i32.const 2))))
        (local.set $v (v128.load (i32.add (local.get $p) (local.get $j))))
        (local.set $w (v128.load (i32.add (local.get $q) (local.get $j))))
        (v128.store (local.get $a) (f64x2.add (v128.load (local.get $a))
          (f64x2.mul (call $lo (local.get $w)) (f64x2.mul (call $lo (local.get $v)) (local.get $rs)))))
        (v128.store offset=16 (local.get $a) (f64x2.add (v128.load offset=16 (local.get $a))
          (f64x2.mul (call $hi (local.get $w)) (f64x2.mul (call $hi (local.get $v)) (local.get $rs)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (local.set $a (i32.add (local.get $a) (i32.const 32)))
        (br $jl)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl))))

  ;; ---- add, mul and scale over n floats (a multiple of 4), in place at p.

  (func (export "add") (param $p i32) (param $q i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (v128.store (local.get $p) (f32x4.add (v128.load (local.get $p)) (v128.load (local.get $q))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $q (i32.add (local.get $q) (i32.const 16)))
      (br $l))))

  (func (export "mul") (param $p i32) (param $q i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (v128.store (local.get $p) (f32x4.mul (v128.load (local.get $p)) (v128.load (local.get $q))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $q (i32.add (local.get $q) (i32.const 16)))
      (br $l))))

  ;; x ← f·x with f rounded to f32 first: vector.ts takes this path only for factors exact in f32.
  (func (export "scale") (param $p i32) (param $n i32) (param $f f32)
    (local $end i32) (local $vf v128)
    (local.set $vf (f32x4.splat (local.get $f)))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (v128.store (local.get $p) (f32x4.mul (v128.load (local.get $p)) (local.get $vf)))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l))))
)
