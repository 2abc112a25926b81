;; The CPU backend's matrix-multiply micro-kernel in WebAssembly SIMD (f64x2), for linear.ts's
;; packed gemm: a row of 4×4 tiles of C from one packed 4-row panel of A and consecutive packed
;; 4-column panels of B,
;;   out[j·16 + i·4 + c] = Σ_k q[k·4 + i] · p[j·4K + k·4 + c]      (i, c < 4; j < panels)
;; with every sum taken in f64 in the order k = 0, 1, …, K−1: the same multiplications and
;; additions as linear.ts's scalar tile, so the two give bit-identical results (the CPU backend
;; is the project's reference, and f64 sums keep it one). Two lanes per instruction and the
;; panels read as whole vectors make it several times faster than JavaScript's scalar loop.
;; Pointers are byte offsets into the module's memory, which the host fills (gemm-wasm.ts).
;; Assembled by `npm run build:wasm` (scripts/build-wasm.ts) into gemm-wasm-bytes.ts.
(module
  (memory (export "memory") 1)

  (func (export "tiles") (param $q i32) (param $p i32) (param $K i32) (param $panels i32) (param $out i32)
    (local $j i32) (local $k i32) (local $qp i32) (local $pp i32)
    (local $b01 v128) (local $b23 v128) (local $x v128)
    (local $s00 v128) (local $s02 v128) (local $s10 v128) (local $s12 v128)
    (local $s20 v128) (local $s22 v128) (local $s30 v128) (local $s32 v128)
    (local.set $pp (local.get $p))
    (local.set $j (i32.const 0))
    (block $panels_done (loop $panel
      (br_if $panels_done (i32.ge_u (local.get $j) (local.get $panels)))
      (local.set $s00 (v128.const i64x2 0 0))
      (local.set $s02 (v128.const i64x2 0 0))
      (local.set $s10 (v128.const i64x2 0 0))
      (local.set $s12 (v128.const i64x2 0 0))
      (local.set $s20 (v128.const i64x2 0 0))
      (local.set $s22 (v128.const i64x2 0 0))
      (local.set $s30 (v128.const i64x2 0 0))
      (local.set $s32 (v128.const i64x2 0 0))
      (local.set $qp (local.get $q))
      (local.set $k (i32.const 0))
      (block $k_done (loop $ks
        (br_if $k_done (i32.ge_u (local.get $k) (local.get $K)))
        (local.set $b01 (v128.load offset=0 (local.get $pp)))
        (local.set $b23 (v128.load offset=16 (local.get $pp)))
        (local.set $x (f64x2.splat (f64.load offset=0 (local.get $qp))))
        (local.set $s00 (f64x2.add (local.get $s00) (f64x2.mul (local.get $x) (local.get $b01))))
        (local.set $s02 (f64x2.add (local.get $s02) (f64x2.mul (local.get $x) (local.get $b23))))
        (local.set $x (f64x2.splat (f64.load offset=8 (local.get $qp))))
        (local.set $s10 (f64x2.add (local.get $s10) (f64x2.mul (local.get $x) (local.get $b01))))
        (local.set $s12 (f64x2.add (local.get $s12) (f64x2.mul (local.get $x) (local.get $b23))))
        (local.set $x (f64x2.splat (f64.load offset=16 (local.get $qp))))
        (local.set $s20 (f64x2.add (local.get $s20) (f64x2.mul (local.get $x) (local.get $b01))))
        (local.set $s22 (f64x2.add (local.get $s22) (f64x2.mul (local.get $x) (local.get $b23))))
        (local.set $x (f64x2.splat (f64.load offset=24 (local.get $qp))))
        (local.set $s30 (f64x2.add (local.get $s30) (f64x2.mul (local.get $x) (local.get $b01))))
        (local.set $s32 (f64x2.add (local.get $s32) (f64x2.mul (local.get $x) (local.get $b23))))
        (local.set $qp (i32.add (local.get $qp) (i32.const 32)))
        (local.set $pp (i32.add (local.get $pp) (i32.const 32)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $ks)))
      ;; The 16 sums, row-major, at out + j·128.
      (v128.store offset=0 (local.get $out) (local.get $s00))
      (v128.store offset=16 (local.get $out) (local.get $s02))
      (v128.store offset=32 (local.get $out) (local.get $s10))
      (v128.store offset=48 (local.get $out) (local.get $s12))
      (v128.store offset=64 (local.get $out) (local.get $s20))
      (v128.store offset=80 (local.get $out) (local.get $s22))
      (v128.store offset=96 (local.get $out) (local.get $s30))
      (v128.store offset=112 (local.get $out) (local.get $s32))
      (local.set $out (i32.add (local.get $out) (i32.const 128)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $panel)))))
