;; The CPU backend's matrix-multiply micro-kernel in WebAssembly SIMD (f64x2), for linear.ts's
;; packed gemm. One call computes a block of 4×4 tiles of C for one chunk of K (kc values of k):
;; for each packed 4-row panel mp of A and each packed 4-column panel np of B,
;;   out[t·16 + i·4 + c] (+)= Σ_k q[mp·4kc + k·4 + i] · p[np·4kc + k·4 + c]   (t = mp·nPanels + np)
;; with every sum taken in f64 in the order k = 0, 1, …, kc−1, starting from 0 for the first
;; chunk and from the sums the previous chunk left in `out` for the next ones (carry = 1). So
;; C(m, n) is still summed in the order k = 0 … K−1: the same multiplications and additions as
;; linear.ts's scalar tile and as the in-order loop, so the results are bit-identical (the CPU
;; backend is the project's reference, and f64 sums keep it one). Two lanes per instruction and
;; the panels read as whole vectors make it several times faster than JavaScript's scalar loop.
;; `finish32` / `finish64` then add the bias and round once, into row-major f32 / f64 rows.
;; Pointers are byte offsets into the module's memory, which the host fills (gemm-wasm.ts).
;; Assembled by `npm run build:wasm` (scripts/build-wasm.ts) into gemm-wasm-bytes.ts.
(module
  (memory (export "memory") 1)

  (func (export "tiles") (param $q i32) (param $p i32) (param $kc i32) (param $mPanels i32) (param $nPanels i32) (param $out i32) (param $carry i32)
    (local $mp i32) (local $np i32) (local $k i32) (local $qp i32) (local $pp i32) (local $qBase i32) (local $panel i32)
    (local $b01 v128) (local $b23 v128) (local $x v128)
    (local $s00 v128) (local $s02 v128) (local $s10 v128) (local $s12 v128)
    (local $s20 v128) (local $s22 v128) (local $s30 v128) (local $s32 v128)
    ;; Bytes per packed panel: kc rows of 4 f64.
    (local.set $panel (i32.shl (local.get $kc) (i32.const 5)))
    (local.set $qBase (local.get $q))
    (local.set $mp (i32.const 0))
    (block $m_done (loop $m_panel
      (br_if $m_done (i32.ge_u (local.get $mp) (local.get $mPanels)))
      (local.set $pp (local.get $p))
      (local.set $np (i32.const 0))
      (block $n_done (loop $n_panel
        (br_if $n_done (i32.ge_u (local.get $np) (local.get $nPanels)))
        (if (local.get $carry)
          (then
            (local.set $s00 (v128.load offset=0 (local.get $out)))
            (local.set $s02 (v128.load offset=16 (local.get $out)))
            (local.set $s10 (v128.load offset=32 (local.get $out)))
            (local.set $s12 (v128.load offset=48 (local.get $out)))
            (local.set $s20 (v128.load offset=64 (local.get $out)))
            (local.set $s22 (v128.load offset=80 (local.get $out)))
            (local.set $s30 (v128.load offset=96 (local.get $out)))
            (local.set $s32 (v128.load offset=112 (local.get $out))))
          (else
            (local.set $s00 (v128.const i64x2 0 0))
            (local.set $s02 (v128.const i64x2 0 0))
            (local.set $s10 (v128.const i64x2 0 0))
            (local.set $s12 (v128.const i64x2 0 0))
            (local.set $s20 (v128.const i64x2 0 0))
            (local.set $s22 (v128.const i64x2 0 0))
            (local.set $s30 (v128.const i64x2 0 0))
            (local.set $s32 (v128.const i64x2 0 0))))
        (local.set $qp (local.get $qBase))
        (local.set $k (i32.const 0))
        ;; One k per pass: unrolling by two measured slower here (V8's code for the larger loop).
        (block $k_done (loop $ks
          (br_if $k_done (i32.ge_u (local.get $k) (local.get $kc)))
          (local.set $b01 (v128.load offset=0 (local.get $pp)))
          (local.set $b23 (v128.load offset=16 (local.get $pp)))
          (local.set $x (v128.load64_splat offset=0 (local.get $qp)))
          (local.set $s00 (f64x2.add (local.get $s00) (f64x2.mul (local.get $x) (local.get $b01))))
          (local.set $s02 (f64x2.add (local.get $s02) (f64x2.mul (local.get $x) (local.get $b23))))
          (local.set $x (v128.load64_splat offset=8 (local.get $qp)))
          (local.set $s10 (f64x2.add (local.get $s10) (f64x2.mul (local.get $x) (local.get $b01))))
          (local.set $s12 (f64x2.add (local.get $s12) (f64x2.mul (local.get $x) (local.get $b23))))
          (local.set $x (v128.load64_splat offset=16 (local.get $qp)))
          (local.set $s20 (f64x2.add (local.get $s20) (f64x2.mul (local.get $x) (local.get $b01))))
          (local.set $s22 (f64x2.add (local.get $s22) (f64x2.mul (local.get $x) (local.get $b23))))
          (local.set $x (v128.load64_splat offset=24 (local.get $qp)))
          (local.set $s30 (f64x2.add (local.get $s30) (f64x2.mul (local.get $x) (local.get $b01))))
          (local.set $s32 (f64x2.add (local.get $s32) (f64x2.mul (local.get $x) (local.get $b23))))
          (local.set $qp (i32.add (local.get $qp) (i32.const 32)))
          (local.set $pp (i32.add (local.get $pp) (i32.const 32)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $ks)))
        ;; The 16 sums, row-major, at out; the next tile's after them.
        (v128.store offset=0 (local.get $out) (local.get $s00))
        (v128.store offset=16 (local.get $out) (local.get $s02))
        (v128.store offset=32 (local.get $out) (local.get $s10))
        (v128.store offset=48 (local.get $out) (local.get $s12))
        (v128.store offset=64 (local.get $out) (local.get $s20))
        (v128.store offset=80 (local.get $out) (local.get $s22))
        (v128.store offset=96 (local.get $out) (local.get $s30))
        (v128.store offset=112 (local.get $out) (local.get $s32))
        (local.set $out (i32.add (local.get $out) (i32.const 128)))
        (local.set $np (i32.add (local.get $np) (i32.const 1)))
        (br $n_panel)))
      (local.set $qBase (i32.add (local.get $qBase) (local.get $panel)))
      (local.set $mp (i32.add (local.get $mp) (i32.const 1)))
      (br $m_panel))))

  ;; dst[r·W + n] = f32(out's sum for row r, column n + bias[n]) with W = 4·nPanels, for the
  ;; 4·mPanels rows of the block: the bias added in f64 (0 when there is none, as the scalar
  ;; path adds it) and the sum rounded once.
  (func (export "finish32") (param $out i32) (param $mPanels i32) (param $nPanels i32) (param $bias i32) (param $dst i32)
    (local $rows i32) (local $r i32) (local $np i32) (local $src i32) (local $d i32) (local $bp i32) (local $rowBytes i32)
    (local.set $rows (i32.shl (local.get $mPanels) (i32.const 2)))
    (local.set $rowBytes (i32.shl (local.get $nPanels) (i32.const 4)))
    (local.set $r (i32.const 0))
    (block $r_done (loop $row
      (br_if $r_done (i32.ge_u (local.get $r) (local.get $rows)))
      ;; Row r lives in the tiles of m panel r/4, at row r%4 of each.
      (local.set $src (i32.add (local.get $out)
        (i32.add (i32.mul (i32.shr_u (local.get $r) (i32.const 2)) (i32.shl (local.get $nPanels) (i32.const 7)))
                 (i32.shl (i32.and (local.get $r) (i32.const 3)) (i32.const 5)))))
      (local.set $d (i32.add (local.get $dst) (i32.mul (local.get $r) (local.get $rowBytes))))
      (local.set $bp (local.get $bias))
      (local.set $np (i32.const 0))
      (block $n_done (loop $col
        (br_if $n_done (i32.ge_u (local.get $np) (local.get $nPanels)))
        (v128.store64_lane offset=0 0 (local.get $d)
          (f32x4.demote_f64x2_zero (f64x2.add (v128.load offset=0 (local.get $src)) (v128.load offset=0 (local.get $bp)))))
        (v128.store64_lane offset=8 0 (local.get $d)
          (f32x4.demote_f64x2_zero (f64x2.add (v128.load offset=16 (local.get $src)) (v128.load offset=16 (local.get $bp)))))
        (local.set $src (i32.add (local.get $src) (i32.const 128)))
        (local.set $d (i32.add (local.get $d) (i32.const 16)))
        (local.set $bp (i32.add (local.get $bp) (i32.const 32)))
        (local.set $np (i32.add (local.get $np) (i32.const 1)))
        (br $col)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $row))))

  ;; As finish32, kept in f64: dst[r·W + n] = sum + bias[n].
  (func (export "finish64") (param $out i32) (param $mPanels i32) (param $nPanels i32) (param $bias i32) (param $dst i32)
    (local $rows i32) (local $r i32) (local $np i32) (local $src i32) (local $d i32) (local $bp i32) (local $rowBytes i32)
    (local.set $rows (i32.shl (local.get $mPanels) (i32.const 2)))
    (local.set $rowBytes (i32.shl (local.get $nPanels) (i32.const 5)))
    (local.set $r (i32.const 0))
    (block $r_done (loop $row
      (br_if $r_done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $src (i32.add (local.get $out)
        (i32.add (i32.mul (i32.shr_u (local.get $r) (i32.const 2)) (i32.shl (local.get $nPanels) (i32.const 7)))
                 (i32.shl (i32.and (local.get $r) (i32.const 3)) (i32.const 5)))))
      (local.set $d (i32.add (local.get $dst) (i32.mul (local.get $r) (local.get $rowBytes))))
      (local.set $bp (local.get $bias))
      (local.set $np (i32.const 0))
      (block $n_done (loop $col
        (br_if $n_done (i32.ge_u (local.get $np) (local.get $nPanels)))
        (v128.store offset=0 (local.get $d)
          (f64x2.add (v128.load offset=0 (local.get $src)) (v128.load offset=0 (local.get $bp))))
        (v128.store offset=16 (local.get $d)
          (f64x2.add (v128.load offset=16 (local.get $src)) (v128.load offset=16 (local.get $bp))))
        (local.set $src (i32.add (local.get $src) (i32.const 128)))
        (local.set $d (i32.add (local.get $d) (i32.const 32)))
        (local.set $bp (i32.add (local.get $bp) (i32.const 32)))
        (local.set $np (i32.add (local.get $np) (i32.const 1)))
        (br $col)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $row)))))
