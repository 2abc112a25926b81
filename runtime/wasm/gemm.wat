;; The wasm backend's matrix multiply (gemm.ts): C[M,N] = A[M,K] · B[K,N] (+ bias), f32 sums, in
;; WebAssembly SIMD over a memory shared by every thread. Each thread calls `part` for its own
;; columns (or rows) of C; nothing is shared between the calls but the operands.
;;
;; The classic blocked layout (Goto & van de Geijn): C in blocks of up to MC × NC, K in chunks of up
;; to KC; per chunk the block's rows of A are packed into 6-row panels (a value of k gives 6
;; consecutive floats) and its columns of B into 8-column panels (8 consecutive floats per k), so
;; the micro-kernel reads both panels contiguously and keeps a 6 × 8 tile of C in 12 registers
;; (f32x4): per k, two loads of B, six splats of A, twelve multiply-adds. The tile's sums go to a
;; tile-major staging area between chunks and are written into C's rows, with the bias, after the
;; last. Where all of K of a block's rows of A fits 32 MiB, they are packed once for all its
;; column blocks.
;;
;; `f32x4.relaxed_madd` (one fused multiply-add per lane where the CPU has it) is what makes this
;; fast; build-wasm.ts also assembles a copy with `f32x4.add(f32x4.mul)` for engines without relaxed
;; SIMD. Strides are in elements; pointers are byte offsets into the shared memory.
;; Assembled by `npm run build:wasm` (scripts/build-wasm.ts) into gemm-bytes.ts.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; Block sizes (gemm.ts's scratch layout follows them): MC = 516 rows (86 panels of 6: a batch of
  ;; 4 × 128 tokens in one block, so B is packed once), NC = 256, KC = 256; 32 MiB of A's panels.

  ;; Packs rows 0 … mb−1 of A(m, k) = src[m·sAm + k·sAk] over k = 0 … kc−1 into 6-row panels:
  ;; dst[(p·kc + k)·6 + i] = A(6p + i, k), zero for rows past mb.
  (func $pack_a (param $src i32) (param $sAm i32) (param $sAk i32) (param $mb i32) (param $kc i32) (param $dst i32)
    (local $p i32) (local $i i32) (local $k i32) (local $row i32) (local $s i32) (local $d i32) (local $panels i32)
    (local.set $panels (i32.div_u (i32.add (local.get $mb) (i32.const 5)) (i32.const 6)))
    (local.set $p (i32.const 0))
    (block $pd (loop $pl
      (br_if $pd (i32.ge_u (local.get $p) (local.get $panels)))
      (local.set $i (i32.const 0))
      (block $id (loop $il
        (br_if $id (i32.ge_u (local.get $i) (i32.const 6)))
        (local.set $row (i32.add (i32.mul (local.get $p) (i32.const 6)) (local.get $i)))
        ;; d: this row's lane of the panel, 24 bytes (6 floats) per k
        (local.set $d (i32.add (local.get $dst)
          (i32.shl (i32.add (i32.mul (i32.mul (local.get $p) (local.get $kc)) (i32.const 6)) (local.get $i)) (i32.const 2))))
        (local.set $k (i32.const 0))
        (if (i32.lt_u (local.get $row) (local.get $mb))
          (then
            (local.set $s (i32.add (local.get $src) (i32.shl (i32.mul (local.get $row) (local.get $sAm)) (i32.const 2))))
            (block $kd (loop $kl
              (br_if $kd (i32.ge_u (local.get $k) (local.get $kc)))
              (f32.store (local.get $d) (f32.load (local.get $s)))
              (local.set $s (i32.add (local.get $s) (i32.shl (local.get $sAk) (i32.const 2))))
              (local.set $d (i32.add (local.get $d) (i32.const 24)))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br $kl))))
          (else
            (block $zd (loop $zl
              (br_if $zd (i32.ge_u (local.get $k) (local.get $kc)))
              (f32.store (local.get $d) (f32.const 0))
              (local.set $d (i32.add (local.get $d) (i32.const 24)))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br $zl)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $il)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $pl))))

  ;; pack_b's whole panels where B's columns are contiguous in k (sBk = 1: B is a row-major
  ;; matrix's transpose, x·wᵀ): four values of k of four columns are four vector loads, transposed
  ;; in registers (eight shuffles) into four values of k of the panel, then a scalar tail for k
  ;; past a multiple of 4. Panels 0 … full−1.
  (func $pack_bt (param $src i32) (param $sBn i32) (param $full i32) (param $kc i32) (param $dst i32)
    (local $p i32) (local $h i32) (local $k i32) (local $k4 i32) (local $j i32) (local $s i32) (local $d i32) (local $row i32)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $row (i32.shl (local.get $sBn) (i32.const 2)))
    (local.set $k4 (i32.and (local.get $kc) (i32.const -4)))
    (local.set $p (i32.const 0))
    (block $pd (loop $pl
      (br_if $pd (i32.ge_u (local.get $p) (local.get $full)))
      (local.set $h (i32.const 0))
      (block $hd (loop $hl
        (br_if $hd (i32.ge_u (local.get $h) (i32.const 2)))
        ;; s: column 8p + 4h at k = 0; d: its lane in the panel at k = 0
        (local.set $s (i32.add (local.get $src) (i32.mul (i32.add (i32.shl (local.get $p) (i32.const 3)) (i32.shl (local.get $h) (i32.const 2))) (local.get $row))))
        (local.set $d (i32.add (local.get $dst) (i32.add (i32.shl (i32.mul (local.get $p) (local.get $kc)) (i32.const 5)) (i32.shl (local.get $h) (i32.const 4)))))
        (local.set $k (i32.const 0))
        (block $kd (loop $kl
          (br_if $kd (i32.ge_u (local.get $k) (local.get $k4)))
          (local.set $r0 (v128.load (local.get $s)))
          (local.set $r1 (v128.load (i32.add (local.get $s) (local.get $row))))
          (local.set $r2 (v128.load (i32.add (local.get $s) (i32.shl (local.get $row) (i32.const 1)))))
          (local.set $r3 (v128.load (i32.add (local.get $s) (i32.mul (local.get $row) (i32.const 3)))))
          (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r0) (local.get $r1)))
          (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r0) (local.get $r1)))
          (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r2) (local.get $r3)))
          (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r2) (local.get $r3)))
          (v128.store offset=0 (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
          (v128.store offset=32 (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
          (v128.store offset=64 (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
          (v128.store offset=96 (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
          (local.set $s (i32.add (local.get $s) (i32.const 16)))
          (local.set $d (i32.add (local.get $d) (i32.const 128)))
          (local.set $k (i32.add (local.get $k) (i32.const 4)))
          (br $kl)))
        ;; k past the last multiple of 4: one value of each of the 4 columns
        (block $td (loop $tl
          (br_if $td (i32.ge_u (local.get $k) (local.get $kc)))
          (local.set $j (i32.const 0))
          (block $jd (loop $jl
            (br_if $jd (i32.ge_u (local.get $j) (i32.const 4)))
            (f32.store (i32.add (local.get $d) (i32.shl (local.get $j) (i32.const 2)))
              (f32.load (i32.add (local.get $s) (i32.mul (local.get $j) (local.get $row)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $jl)))
          (local.set $s (i32.add (local.get $s) (i32.const 4)))
          (local.set $d (i32.add (local.get $d) (i32.const 32)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $tl)))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $hl)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $pl))))

  ;; Packs columns 0 … nb−1 of B(k, n) = src[k·sBk + n·sBn] over k = 0 … kc−1 into 8-column
  ;; panels: dst[(p·kc + k)·8 + j] = B(k, 8p + j), zero for columns past nb. Rows of B that are
  ;; contiguous (sBn = 1) move 8 floats per k as two vectors.
  (func $pack_b (param $src i32) (param $sBk i32) (param $sBn i32) (param $nb i32) (param $kc i32) (param $dst i32)
    (local $p i32) (local $j i32) (local $k i32) (local $col i32) (local $s i32) (local $d i32) (local $panels i32) (local $full i32)
    (local $kb i32) (local $ke i32) (local $q i32)
    (local.set $panels (i32.shr_u (i32.add (local.get $nb) (i32.const 7)) (i32.const 3)))
    ;; whole panels read as vectors where columns are contiguous
    (local.set $full (select (i32.shr_u (local.get $nb) (i32.const 3)) (i32.const 0) (i32.eq (local.get $sBn) (i32.const 1))))
    (local.set $p (i32.const 0))
    ;; whole panels of a transposed B as 4 × 4 blocks
    (if (i32.and (i32.eq (local.get $sBk) (i32.const 1)) (i32.ne (local.get $sBn) (i32.const 1)))
      (then
        (call $pack_bt (local.get $src) (local.get $sBn) (i32.shr_u (local.get $nb) (i32.const 3)) (local.get $kc) (local.get $dst))
        (local.set $p (i32.shr_u (local.get $nb) (i32.const 3)))))
    ;; Eight values of k across every panel before the next eight: B's rows are far apart (a
    ;; multiple of 4 KiB for GPT-2's widths) and land in one L1 set; eight of them stay cached
    ;; while every panel takes its 32 bytes of each, where a whole panel's column of kc rows did not.
    (local.set $kb (i32.const 0))
    (block $bd (loop $bl
      (br_if $bd (i32.ge_u (local.get $kb) (local.get $kc)))
      (local.set $ke (select (i32.add (local.get $kb) (i32.const 8)) (local.get $kc)
        (i32.lt_u (i32.add (local.get $kb) (i32.const 8)) (local.get $kc))))
      (local.set $q (local.get $p))
      (block $fd (loop $fl
        (br_if $fd (i32.ge_u (local.get $q) (local.get $full)))
        (local.set $s (i32.add (local.get $src)
          (i32.add (i32.shl (i32.shl (local.get $q) (i32.const 3)) (i32.const 2)) (i32.shl (i32.mul (local.get $kb) (local.get $sBk)) (i32.const 2)))))
        (local.set $d (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $q) (local.get $kc)) (local.get $kb)) (i32.const 5))))
        (local.set $k (local.get $kb))
        (block $kd (loop $kl
          (br_if $kd (i32.ge_u (local.get $k) (local.get $ke)))
          (v128.store offset=0 (local.get $d) (v128.load offset=0 (local.get $s)))
          (v128.store offset=16 (local.get $d) (v128.load offset=16 (local.get $s)))
          (local.set $s (i32.add (local.get $s) (i32.shl (local.get $sBk) (i32.const 2))))
          (local.set $d (i32.add (local.get $d) (i32.const 32)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $kl)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $fl)))
      (local.set $kb (local.get $ke))
      (br $bl)))
    (local.set $p (select (local.get $full) (local.get $p) (i32.gt_u (local.get $full) (local.get $p))))
    ;; the rest one column at a time: k runs along the column (contiguous where sBk = 1)
    (block $pd (loop $pl
      (br_if $pd (i32.ge_u (local.get $p) (local.get $panels)))
      (local.set $j (i32.const 0))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (local.get $j) (i32.const 8)))
        (local.set $col (i32.add (i32.shl (local.get $p) (i32.const 3)) (local.get $j)))
        (local.set $d (i32.add (local.get $dst)
          (i32.shl (i32.add (i32.shl (i32.mul (local.get $p) (local.get $kc)) (i32.const 3)) (local.get $j)) (i32.const 2))))
        (local.set $k (i32.const 0))
        (if (i32.lt_u (local.get $col) (local.get $nb))
          (then
            (local.set $s (i32.add (local.get $src) (i32.shl (i32.mul (local.get $col) (local.get $sBn)) (i32.const 2))))
            (block $kd (loop $kl
              (br_if $kd (i32.ge_u (local.get $k) (local.get $kc)))
              (f32.store (local.get $d) (f32.load (local.get $s)))
              (local.set $s (i32.add (local.get $s) (i32.shl (local.get $sBk) (i32.const 2))))
              (local.set $d (i32.add (local.get $d) (i32.const 32)))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br $kl))))
          (else
            (block $zd (loop $zl
              (br_if $zd (i32.ge_u (local.get $k) (local.get $kc)))
              (f32.store (local.get $d) (f32.const 0))
              (local.set $d (i32.add (local.get $d) (i32.const 32)))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br $zl)))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jl)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $pl))))

  ;; For every 6-row panel mp of A (at q) and 8-column panel np of B (at p), one chunk of kc values
  ;; of k: tile t = mp·nPanels + np at out + t·192 bytes (6 rows × 8 floats, row-major) gets
  ;; (carry ? itself : 0) + Σ_k A·B.
  (func $tiles (param $q i32) (param $p i32) (param $kc i32) (param $mPanels i32) (param $nPanels i32) (param $out i32) (param $carry i32)
    (local $mp i32) (local $np i32) (local $k i32) (local $qp i32) (local $pp i32) (local $qBase i32)
    (local $b0 v128) (local $b1 v128) (local $x v128)
    (local $s00 v128) (local $s01 v128) (local $s10 v128) (local $s11 v128) (local $s20 v128) (local $s21 v128)
    (local $s30 v128) (local $s31 v128) (local $s40 v128) (local $s41 v128) (local $s50 v128) (local $s51 v128)
    (local.set $qBase (local.get $q))
    (local.set $mp (i32.const 0))
    (block $md (loop $ml
      (br_if $md (i32.ge_u (local.get $mp) (local.get $mPanels)))
      (local.set $pp (local.get $p))
      (local.set $np (i32.const 0))
      (block $nd (loop $nl
        (br_if $nd (i32.ge_u (local.get $np) (local.get $nPanels)))
        (if (local.get $carry)
          (then
            (local.set $s00 (v128.load offset=0 (local.get $out)))
            (local.set $s01 (v128.load offset=16 (local.get $out)))
            (local.set $s10 (v128.load offset=32 (local.get $out)))
            (local.set $s11 (v128.load offset=48 (local.get $out)))
            (local.set $s20 (v128.load offset=64 (local.get $out)))
            (local.set $s21 (v128.load offset=80 (local.get $out)))
            (local.set $s30 (v128.load offset=96 (local.get $out)))
            (local.set $s31 (v128.load offset=112 (local.get $out)))
            (local.set $s40 (v128.load offset=128 (local.get $out)))
            (local.set $s41 (v128.load offset=144 (local.get $out)))
            (local.set $s50 (v128.load offset=160 (local.get $out)))
            (local.set $s51 (v128.load offset=176 (local.get $out))))
          (else
            (local.set $s00 (v128.const i64x2 0 0))
            (local.set $s01 (v128.const i64x2 0 0))
            (local.set $s10 (v128.const i64x2 0 0))
            (local.set $s11 (v128.const i64x2 0 0))
            (local.set $s20 (v128.const i64x2 0 0))
            (local.set $s21 (v128.const i64x2 0 0))
            (local.set $s30 (v128.const i64x2 0 0))
            (local.set $s31 (v128.const i64x2 0 0))
            (local.set $s40 (v128.const i64x2 0 0))
            (local.set $s41 (v128.const i64x2 0 0))
            (local.set $s50 (v128.const i64x2 0 0))
            (local.set $s51 (v128.const i64x2 0 0))))
        (local.set $qp (local.get $qBase))
        (local.set $k (local.get $kc))
        (block $kd (loop $kl
          (local.set $b0 (v128.load offset=0 (local.get $pp)))
          (local.set $b1 (v128.load offset=16 (local.get $pp)))
          (local.set $x (v128.load32_splat offset=0 (local.get $qp)))
          (local.set $s00 (f32x4.relaxed_madd (local.get $x) (local.get $b0) (local.get $s00)))
          (local.set $s01 (f32x4.relaxed_madd (local.get $x) (local.get $b1) (local.get $s01)))
          (local.set $x (v128.load32_splat offset=4 (local.get $qp)))
          (local.set $s10 (f32x4.relaxed_madd (local.get $x) (local.get $b0) (local.get $s10)))
          (local.set $s11 (f32x4.relaxed_madd (local.get $x) (local.get $b1) (local.get $s11)))
          (local.set $x (v128.load32_splat offset=8 (local.get $qp)))
          (local.set $s20 (f32x4.relaxed_madd (local.get $x) (local.get $b0) (local.get $s20)))
          (local.set $s21 (f32x4.relaxed_madd (local.get $x) (local.get $b1) (local.get $s21)))
          (local.set $x (v128.load32_splat offset=12 (local.get $qp)))
          (local.set $s30 (f32x4.relaxed_madd (local.get $x) (local.get $b0) (local.get $s30)))
          (local.set $s31 (f32x4.relaxed_madd (local.get $x) (local.get $b1) (local.get $s31)))
          (local.set $x (v128.load32_splat offset=16 (local.get $qp)))
          (local.set $s40 (f32x4.relaxed_madd (local.get $x) (local.get $b0) (local.get $s40)))
          (local.set $s41 (f32x4.relaxed_madd (local.get $x) (local.get $b1) (local.get $s41)))
          (local.set $x (v128.load32_splat offset=20 (local.get $qp)))
          (local.set $s50 (f32x4.relaxed_madd (local.get $x) (local.get $b0) (local.get $s50)))
          (local.set $s51 (f32x4.relaxed_madd (local.get $x) (local.get $b1) (local.get $s51)))
          (local.set $qp (i32.add (local.get $qp) (i32.const 24)))
          (local.set $pp (i32.add (local.get $pp) (i32.const 32)))
          (local.set $k (i32.sub (local.get $k) (i32.const 1)))
          (br_if $kl (local.get $k))))
        (v128.store offset=0 (local.get $out) (local.get $s00))
        (v128.store offset=16 (local.get $out) (local.get $s01))
        (v128.store offset=32 (local.get $out) (local.get $s10))
        (v128.store offset=48 (local.get $out) (local.get $s11))
        (v128.store offset=64 (local.get $out) (local.get $s20))
        (v128.store offset=80 (local.get $out) (local.get $s21))
        (v128.store offset=96 (local.get $out) (local.get $s30))
        (v128.store offset=112 (local.get $out) (local.get $s31))
        (v128.store offset=128 (local.get $out) (local.get $s40))
        (v128.store offset=144 (local.get $out) (local.get $s41))
        (v128.store offset=160 (local.get $out) (local.get $s50))
        (v128.store offset=176 (local.get $out) (local.get $s51))
        (local.set $out (i32.add (local.get $out) (i32.const 192)))
        (local.set $np (i32.add (local.get $np) (i32.const 1)))
        (br $nl)))
      (local.set $qBase (i32.add (local.get $qBase) (i32.mul (local.get $kc) (i32.const 24))))
      (local.set $mp (i32.add (local.get $mp) (i32.const 1)))
      (br $ml))))

  ;; Rows 0 … mb−1, columns 0 … nb−1 of the staged tiles (+ bias[n] where hasBias) into C at c,
  ;; ldc floats a row.
  (func $finish (param $out i32) (param $nPanels i32) (param $mb i32) (param $nb i32) (param $c i32) (param $ldc i32) (param $bias i32) (param $hasBias i32)
    (local $r i32) (local $np i32) (local $j i32) (local $t i32) (local $dst i32) (local $full i32) (local $bv v128) (local $col i32) (local $b f32)
    (local.set $full (i32.shr_u (local.get $nb) (i32.const 3)))
    (local.set $r (i32.const 0))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_u (local.get $r) (local.get $mb)))
      (local.set $dst (i32.add (local.get $c) (i32.shl (i32.mul (local.get $r) (local.get $ldc)) (i32.const 2))))
      ;; this row's 8 floats in tile (r / 6, np): out + ((r/6)·nPanels + np)·192 + (r % 6)·32
      (local.set $t (i32.add (local.get $out)
        (i32.add (i32.mul (i32.mul (i32.div_u (local.get $r) (i32.const 6)) (local.get $nPanels)) (i32.const 192))
                 (i32.shl (i32.rem_u (local.get $r) (i32.const 6)) (i32.const 5)))))
      (local.set $np (i32.const 0))
      (block $nd (loop $nl
        (br_if $nd (i32.ge_u (local.get $np) (local.get $full)))
        (if (local.get $hasBias)
          (then
            (v128.store offset=0 (local.get $dst) (f32x4.add (v128.load offset=0 (local.get $t))
              (v128.load offset=0 (i32.add (local.get $bias) (i32.shl (local.get $np) (i32.const 5))))))
            (v128.store offset=16 (local.get $dst) (f32x4.add (v128.load offset=16 (local.get $t))
              (v128.load offset=16 (i32.add (local.get $bias) (i32.shl (local.get $np) (i32.const 5)))))))
          (else
            (v128.store offset=0 (local.get $dst) (v128.load offset=0 (local.get $t)))
            (v128.store offset=16 (local.get $dst) (v128.load offset=16 (local.get $t)))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
        (local.set $t (i32.add (local.get $t) (i32.const 192)))
        (local.set $np (i32.add (local.get $np) (i32.const 1)))
        (br $nl)))
      ;; the last, partial panel one float at a time
      (local.set $col (i32.shl (local.get $full) (i32.const 3)))
      (local.set $j (i32.const 0))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (i32.add (local.get $col) (local.get $j)) (local.get $nb)))
        (local.set $b (if (result f32) (local.get $hasBias)
          (then (f32.load (i32.add (local.get $bias) (i32.shl (i32.add (local.get $col) (local.get $j)) (i32.const 2)))))
          (else (f32.const 0))))
        (f32.store (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2)))
          (f32.add (f32.load (i32.add (local.get $t) (i32.shl (local.get $j) (i32.const 2)))) (local.get $b)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jl)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl))))

  ;; ---- Few rows of C (decoding: a row per sequence) ----
  ;; A decoding step multiplies one row per sequence by each weight: it reads every weight once and
  ;; is bound by how fast those bytes stream in. Packing B would read them twice and write them
  ;; once, so up to 4 rows of C read A and B where they are (`part` sends them here).

  ;; y[0 … n) += x0·b0[·] + x1·b1[·] + x2·b2[·] + x3·b3[·] over four rows of B `row` bytes apart,
  ;; an f32x4 of columns at a time, then the last n mod 4 columns one at a time (the same order of
  ;; operations, so a column's value does not depend on which thread or block it falls in).
  (func $axpy4 (param $y i32) (param $b i32) (param $row i32) (param $n i32)
    (param $f0 f32) (param $f1 f32) (param $f2 f32) (param $f3 f32)
    (local $end i32) (local $b1 i32) (local $b2 i32) (local $b3 i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128) (local $s v128)
    (local.set $x0 (f32x4.splat (local.get $f0)))
    (local.set $x1 (f32x4.splat (local.get $f1)))
    (local.set $x2 (f32x4.splat (local.get $f2)))
    (local.set $x3 (f32x4.splat (local.get $f3)))
    (local.set $b1 (i32.add (local.get $b) (local.get $row)))
    (local.set $b2 (i32.add (local.get $b1) (local.get $row)))
    (local.set $b3 (i32.add (local.get $b2) (local.get $row)))
    (local.set $end (i32.add (local.get $y) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vd (loop $vl
      (br_if $vd (i32.ge_u (local.get $y) (local.get $end)))
      (local.set $s (v128.load (local.get $y)))
      (local.set $w0 (v128.load (local.get $b)))
      (local.set $w1 (v128.load (local.get $b1)))
      (local.set $w2 (v128.load (local.get $b2)))
      (local.set $w3 (v128.load (local.get $b3)))
      (local.set $s (f32x4.relaxed_madd (local.get $x0) (local.get $w0) (local.get $s)))
      (local.set $s (f32x4.relaxed_madd (local.get $x1) (local.get $w1) (local.get $s)))
      (local.set $s (f32x4.relaxed_madd (local.get $x2) (local.get $w2) (local.get $s)))
      (local.set $s (f32x4.relaxed_madd (local.get $x3) (local.get $w3) (local.get $s)))
      (v128.store (local.get $y) (local.get $s))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $b1 (i32.add (local.get $b1) (i32.const 16)))
      (local.set $b2 (i32.add (local.get $b2) (i32.const 16)))
      (local.set $b3 (i32.add (local.get $b3) (i32.const 16)))
      (br $vl)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $td (loop $tl
      (br_if $td (i32.ge_u (local.get $y) (local.get $end)))
      (f32.store (local.get $y)
        (f32.add (f32.add (f32.add (f32.add (f32.load (local.get $y))
          (f32.mul (local.get $f0) (f32.load (local.get $b))))
          (f32.mul (local.get $f1) (f32.load (local.get $b1))))
          (f32.mul (local.get $f2) (f32.load (local.get $b2))))
          (f32.mul (local.get $f3) (f32.load (local.get $b3)))))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (local.set $b (i32.add (local.get $b) (i32.const 4)))
      (local.set $b1 (i32.add (local.get $b1) (i32.const 4)))
      (local.set $b2 (i32.add (local.get $b2) (i32.const 4)))
      (local.set $b3 (i32.add (local.get $b3) (i32.const 4)))
      (br $tl))))

  ;; y[0 … n) += x·b[·] for one row of B (K mod 4's last rows).
  (func $axpy1 (param $y i32) (param $b i32) (param $n i32) (param $f f32)
    (local $end i32) (local $x v128) (local $w v128) (local $s v128)
    (local.set $x (f32x4.splat (local.get $f)))
    (local.set $end (i32.add (local.get $y) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vd (loop $vl
      (br_if $vd (i32.ge_u (local.get $y) (local.get $end)))
      (local.set $s (v128.load (local.get $y)))
      (local.set $w (v128.load (local.get $b)))
      (local.set $s (f32x4.relaxed_madd (local.get $x) (local.get $w) (local.get $s)))
      (v128.store (local.get $y) (local.get $s))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (br $vl)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $td (loop $tl
      (br_if $td (i32.ge_u (local.get $y) (local.get $end)))
      (f32.store (local.get $y) (f32.add (f32.load (local.get $y)) (f32.mul (local.get $f) (f32.load (local.get $b)))))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (local.set $b (i32.add (local.get $b) (i32.const 4)))
      (br $tl))))

  ;; B(k, n) = b[k·sBk + n] (an [in, out] weight): C's rows are the sums. Per block of columns, per
  ;; 4 rows of B, each row of C adds the 4 rows times its 4 values of A. One row of C (a decoding
  ;; step of one sequence) takes the part's columns as one block, so each 4 rows of B stream in
  ;; whole (9.6 → 16 GB/s on GPT-2 small's weights, 2 threads, against blocks of 256); more rows
  ;; take blocks of 1024 columns, whose 16 KiB of B stay in L1 while each row of C takes them.
  ;; a and c point at the part's first row.
  (func $few_inout (param $mr i32) (param $K i32) (param $a i32) (param $sAm i32) (param $b i32) (param $sBk i32)
    (param $c i32) (param $ldc i32) (param $bias i32) (param $hasBias i32) (param $n0 i32) (param $n1 i32)
    (local $nc i32) (local $nb i32) (local $m i32) (local $k i32) (local $j i32) (local $row i32)
    (local $y i32) (local $x i32) (local $bk i32) (local $width i32)
    ;; one row of C: no reuse of B to keep in L1, so the block is the whole part, and each 4 rows of
    ;; B are read as 4 long streams; more rows: 1024 columns, 16 KiB of B taken by each row of C
    (local.set $width (select (i32.sub (local.get $n1) (local.get $n0)) (i32.const 1024) (i32.eq (local.get $mr) (i32.const 1))))
    (local.set $row (i32.shl (local.get $sBk) (i32.const 2)))
    (local.set $nc (local.get $n0))
    (block $cd (loop $cl
      (br_if $cd (i32.ge_u (local.get $nc) (local.get $n1)))
      (local.set $nb (select (local.get $width) (i32.sub (local.get $n1) (local.get $nc))
        (i32.lt_u (local.get $width) (i32.sub (local.get $n1) (local.get $nc)))))
      ;; the block's sums start at the bias (or zero)
      (local.set $m (i32.const 0))
      (block $id (loop $il
        (br_if $id (i32.ge_u (local.get $m) (local.get $mr)))
        (local.set $y (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $m) (local.get $ldc)) (local.get $nc)) (i32.const 2))))
        (local.set $j (i32.const 0))
        (block $jd (loop $jl
          (br_if $jd (i32.ge_u (local.get $j) (local.get $nb)))
          (f32.store (i32.add (local.get $y) (i32.shl (local.get $j) (i32.const 2)))
            (if (result f32) (local.get $hasBias)
              (then (f32.load (i32.add (local.get $bias) (i32.shl (i32.add (local.get $nc) (local.get $j)) (i32.const 2)))))
              (else (f32.const 0))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $jl)))
        (local.set $m (i32.add (local.get $m) (i32.const 1)))
        (br $il)))
      (local.set $k (i32.const 0))
      (block $kd (loop $kl
        (br_if $kd (i32.ge_u (local.get $k) (local.get $K)))
        (local.set $bk (i32.add (local.get $b) (i32.shl (i32.add (i32.mul (local.get $k) (local.get $sBk)) (local.get $nc)) (i32.const 2))))
        (local.set $m (i32.const 0))
        (block $md (loop $ml
          (br_if $md (i32.ge_u (local.get $m) (local.get $mr)))
          (local.set $y (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $m) (local.get $ldc)) (local.get $nc)) (i32.const 2))))
          (local.set $x (i32.add (local.get $a) (i32.shl (i32.add (i32.mul (local.get $m) (local.get $sAm)) (local.get $k)) (i32.const 2))))
          (if (i32.le_u (i32.add (local.get $k) (i32.const 4)) (local.get $K))
            (then (call $axpy4 (local.get $y) (local.get $bk) (local.get $row) (local.get $nb)
              (f32.load offset=0 (local.get $x)) (f32.load offset=4 (local.get $x))
              (f32.load offset=8 (local.get $x)) (f32.load offset=12 (local.get $x))))
            (else (call $axpy1 (local.get $y) (local.get $bk) (local.get $nb) (f32.load (local.get $x)))))
          (local.set $m (i32.add (local.get $m) (i32.const 1)))
          (br $ml)))
        (local.set $k (i32.add (local.get $k)
          (select (i32.const 4) (i32.const 1) (i32.le_u (i32.add (local.get $k) (i32.const 4)) (local.get $K)))))
        (br $kl)))
      (local.set $nc (i32.add (local.get $nc) (local.get $nb)))
      (br $cl))))

  ;; Σ_k x[k]·w[k] over K contiguous floats of each: 16 k per pass in four f32x4 sums, then 4 at a
  ;; time, then the lanes, then the last K mod 4 one at a time.
  (func $dot (param $x i32) (param $w i32) (param $K i32) (result f32)
    (local $end i32) (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local $a v128) (local $b v128) (local $s f32)
    (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $K) (i32.const -16)) (i32.const 2))))
    (block $d16 (loop $l16
      (br_if $d16 (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $a (v128.load offset=0 (local.get $x)))
      (local.set $b (v128.load offset=0 (local.get $w)))
      (local.set $s0 (f32x4.relaxed_madd (local.get $a) (local.get $b) (local.get $s0)))
      (local.set $a (v128.load offset=16 (local.get $x)))
      (local.set $b (v128.load offset=16 (local.get $w)))
      (local.set $s1 (f32x4.relaxed_madd (local.get $a) (local.get $b) (local.get $s1)))
      (local.set $a (v128.load offset=32 (local.get $x)))
      (local.set $b (v128.load offset=32 (local.get $w)))
      (local.set $s2 (f32x4.relaxed_madd (local.get $a) (local.get $b) (local.get $s2)))
      (local.set $a (v128.load offset=48 (local.get $x)))
      (local.set $b (v128.load offset=48 (local.get $w)))
      (local.set $s3 (f32x4.relaxed_madd (local.get $a) (local.get $b) (local.get $s3)))
      (local.set $x (i32.add (local.get $x) (i32.const 64)))
      (local.set $w (i32.add (local.get $w) (i32.const 64)))
      (br $l16)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $K) (i32.const 12)) (i32.const 2))))
    (block $d4 (loop $l4
      (br_if $d4 (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $a (v128.load (local.get $x)))
      (local.set $b (v128.load (local.get $w)))
      (local.set $s0 (f32x4.relaxed_madd (local.get $a) (local.get $b) (local.get $s0)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $w (i32.add (local.get $w) (i32.const 16)))
      (br $l4)))
    (local.set $s0 (f32x4.add (f32x4.add (local.get $s0) (local.get $s1)) (f32x4.add (local.get $s2) (local.get $s3))))
    (local.set $s (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $s0)) (f32x4.extract_lane 1 (local.get $s0)))
      (f32.add (f32x4.extract_lane 2 (local.get $s0)) (f32x4.extract_lane 3 (local.get $s0)))))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $K) (i32.const 3)) (i32.const 2))))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (local.get $x)) (f32.load (local.get $w)))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $w (i32.add (local.get $w) (i32.const 4)))
      (br $l1)))
    (local.get $s))

  ;; B(k, n) = b[n·sBn + k] (an [out, in] weight, or a tied head): each column of C is a dot
  ;; product of two contiguous rows; C's rows take each row of B while it is in L1.
  (func $few_outin (param $mr i32) (param $K i32) (param $a i32) (param $sAm i32) (param $b i32) (param $sBn i32)
    (param $c i32) (param $ldc i32) (param $bias i32) (param $hasBias i32) (param $n0 i32) (param $n1 i32)
    (local $n i32) (local $m i32) (local $w i32) (local $s f32)
    (local.set $n (local.get $n0))
    (block $nd (loop $nl
      (br_if $nd (i32.ge_u (local.get $n) (local.get $n1)))
      (local.set $w (i32.add (local.get $b) (i32.shl (i32.mul (local.get $n) (local.get $sBn)) (i32.const 2))))
      (local.set $m (i32.const 0))
      (block $md (loop $ml
        (br_if $md (i32.ge_u (local.get $m) (local.get $mr)))
        (local.set $s (call $dot (i32.add (local.get $a) (i32.shl (i32.mul (local.get $m) (local.get $sAm)) (i32.const 2)))
          (local.get $w) (local.get $K)))
        (if (local.get $hasBias)
          (then (local.set $s (f32.add (local.get $s) (f32.load (i32.add (local.get $bias) (i32.shl (local.get $n) (i32.const 2))))))))
        (f32.store (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $m) (local.get $ldc)) (local.get $n)) (i32.const 2)))
          (local.get $s))
        (local.set $m (i32.add (local.get $m) (i32.const 1)))
        (br $ml)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $nl))))

  ;; C rows m0 … m1−1, columns n0 … n1−1 of C = A·B (+ bias): one thread's share. a, b, c, bias are
  ;; the byte addresses of A(0,0), B(0,0), C(0,0), bias[0]; scratch holds this thread's packed A
  ;; (MC·QK floats), packed B (NC·KC) and staged tiles (MC·NC).
  (func (export "part")
    (param $M i32) (param $N i32) (param $K i32)
    (param $a i32) (param $sAm i32) (param $sAk i32)
    (param $b i32) (param $sBk i32) (param $sBn i32)
    (param $c i32) (param $ldc i32) (param $bias i32) (param $hasBias i32)
    (param $m0 i32) (param $m1 i32) (param $n0 i32) (param $n1 i32) (param $scratch i32)
    (local $mi i32) (local $ni i32) (local $ki i32) (local $mb i32) (local $nb i32) (local $kc i32)
    (local $mPanels i32) (local $nPanels i32) (local $wholeA i32) (local $qa i32) (local $pb i32) (local $out i32) (local $qo i32)
    ;; up to 4 rows with A's rows contiguous: the few-row products above, unpacked
    (if (i32.and (i32.le_u (i32.sub (local.get $m1) (local.get $m0)) (i32.const 4)) (i32.eq (local.get $sAk) (i32.const 1)))
      (then
        (local.set $a (i32.add (local.get $a) (i32.shl (i32.mul (local.get $m0) (local.get $sAm)) (i32.const 2))))
        (local.set $c (i32.add (local.get $c) (i32.shl (i32.mul (local.get $m0) (local.get $ldc)) (i32.const 2))))
        (if (i32.eq (local.get $sBn) (i32.const 1))
          (then
            (call $few_inout (i32.sub (local.get $m1) (local.get $m0)) (local.get $K) (local.get $a) (local.get $sAm)
              (local.get $b) (local.get $sBk) (local.get $c) (local.get $ldc) (local.get $bias) (local.get $hasBias) (local.get $n0) (local.get $n1))
            (return)))
        (if (i32.eq (local.get $sBk) (i32.const 1))
          (then
            (call $few_outin (i32.sub (local.get $m1) (local.get $m0)) (local.get $K) (local.get $a) (local.get $sAm)
              (local.get $b) (local.get $sBn) (local.get $c) (local.get $ldc) (local.get $bias) (local.get $hasBias) (local.get $n0) (local.get $n1))
            (return)))
        (local.set $a (i32.sub (local.get $a) (i32.shl (i32.mul (local.get $m0) (local.get $sAm)) (i32.const 2))))
        (local.set $c (i32.sub (local.get $c) (i32.shl (i32.mul (local.get $m0) (local.get $ldc)) (i32.const 2))))))
    (local.set $qa (local.get $scratch))
    (local.set $pb (i32.add (local.get $qa) (i32.const 33554432)))  ;; 32 MiB of A's panels
    (local.set $out (i32.add (local.get $pb) (i32.const 262144)))   ;; NC·KC·4 = 256·256·4
    ;; A's rows of a block are packed once for all its column blocks where all of K fits the
    ;; scratch (32 MiB: GPT-2's 50,257-long head gradient at 128 rows does); else once per column block
    (local.set $wholeA (i64.le_u (i64.mul (i64.extend_i32_u (i32.mul (i32.div_u (i32.add (select (i32.const 516) (i32.sub (local.get $m1) (local.get $m0))
      (i32.lt_u (i32.const 516) (i32.sub (local.get $m1) (local.get $m0)))) (i32.const 5)) (i32.const 6)) (i32.const 24))) (i64.extend_i32_u (local.get $K))) (i64.const 33554432)))
    (local.set $mi (local.get $m0))
    (block $md (loop $ml
      (br_if $md (i32.ge_u (local.get $mi) (local.get $m1)))
      (local.set $mb (select (i32.const 516) (i32.sub (local.get $m1) (local.get $mi))
        (i32.lt_u (i32.const 516) (i32.sub (local.get $m1) (local.get $mi)))))
      (local.set $mPanels (i32.div_u (i32.add (local.get $mb) (i32.const 5)) (i32.const 6)))
      (local.set $ni (local.get $n0))
      (block $nd (loop $nl
        (br_if $nd (i32.ge_u (local.get $ni) (local.get $n1)))
        (local.set $nb (select (i32.const 256) (i32.sub (local.get $n1) (local.get $ni))
          (i32.lt_u (i32.const 256) (i32.sub (local.get $n1) (local.get $ni)))))
        (local.set $nPanels (i32.shr_u (i32.add (local.get $nb) (i32.const 7)) (i32.const 3)))
        (local.set $ki (i32.const 0))
        (block $kd (loop $kl
          (br_if $kd (i32.ge_u (local.get $ki) (local.get $K)))
          (local.set $kc (select (i32.const 256) (i32.sub (local.get $K) (local.get $ki))
            (i32.lt_u (i32.const 256) (i32.sub (local.get $K) (local.get $ki)))))
          ;; A's panels of this chunk: after the earlier chunks' where the whole K is held
          (local.set $qo (select (i32.add (local.get $qa) (i32.mul (i32.mul (local.get $mPanels) (i32.const 24)) (local.get $ki)))
            (local.get $qa) (local.get $wholeA)))
          (call $pack_b
            (i32.add (local.get $b) (i32.shl (i32.add (i32.mul (local.get $ki) (local.get $sBk)) (i32.mul (local.get $ni) (local.get $sBn))) (i32.const 2)))
            (local.get $sBk) (local.get $sBn) (local.get $nb) (local.get $kc) (local.get $pb))
          (if (i32.or (i32.eqz (local.get $wholeA)) (i32.eq (local.get $ni) (local.get $n0)))
            (then (call $pack_a
              (i32.add (local.get $a) (i32.shl (i32.add (i32.mul (local.get $mi) (local.get $sAm)) (i32.mul (local.get $ki) (local.get $sAk))) (i32.const 2)))
              (local.get $sAm) (local.get $sAk) (local.get $mb) (local.get $kc) (local.get $qo))))
          (call $tiles (local.get $qo) (local.get $pb) (local.get $kc) (local.get $mPanels) (local.get $nPanels) (local.get $out)
            (i32.ne (local.get $ki) (i32.const 0)))
          (local.set $ki (i32.add (local.get $ki) (local.get $kc)))
          (br $kl)))
        (call $finish (local.get $out) (local.get $nPanels) (local.get $mb) (local.get $nb)
          (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $mi) (local.get $ldc)) (local.get $ni)) (i32.const 2)))
          (local.get $ldc)
          (i32.add (local.get $bias) (i32.shl (local.get $ni) (i32.const 2)))
          (local.get $hasBias))
        (local.set $ni (i32.add (local.get $ni) (local.get $nb)))
        (br $nl)))
      (local.set $mi (i32.add (local.get $mi) (local.get $mb)))
      (br $ml))))
)
