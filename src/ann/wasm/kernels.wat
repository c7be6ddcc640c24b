;; vqlite's hot kernels in WebAssembly with SIMD128 (issue 11).
;;
;; Every pointer is a byte offset into the exported memory; every count is in
;; elements. Float kernels accumulate in f32x4 lanes (two accumulators, eight
;; floats per step), then a 4-float step and a scalar tail, so any dimension
;; works and loads need no alignment. The TypeScript kernels in distance.ts
;; and binary_code.ts are the oracle these are tested against.
;;
;; Built into kernels.wasm by `bun scripts/build-wasm.ts` (wabt's wat2wasm);
;; `bun scripts/build-wasm.ts --check` fails when the committed binary does
;; not match this source.
(module
  ;; the process's WebAssembly heap (src/storage/wasm_heap.ts), where the stores keep their rows
  (import "env" "memory" (memory 1 65536))

  ;; Σ (a[i] - b[i])² over d floats.
  (func $l2sq (export "l2sq") (param $a i32) (param $b i32) (param $d i32) (result f32)
    (local $end i32) (local $acc0 v128) (local $acc1 v128) (local $x v128) (local $s f32) (local $t f32)
    (local.set $end (i32.add (local.get $a) (i32.shl (i32.and (local.get $d) (i32.const -8)) (i32.const 2))))
    (block $out
      (loop $step
        (br_if $out (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $x (f32x4.sub (v128.load (local.get $a)) (v128.load (local.get $b))))
        (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.mul (local.get $x) (local.get $x))))
        (local.set $x (f32x4.sub (v128.load offset=16 (local.get $a)) (v128.load offset=16 (local.get $b))))
        (local.set $acc1 (f32x4.add (local.get $acc1) (f32x4.mul (local.get $x) (local.get $x))))
        (local.set $a (i32.add (local.get $a) (i32.const 32)))
        (local.set $b (i32.add (local.get $b) (i32.const 32)))
        (br $step)))
    (if (i32.and (local.get $d) (i32.const 4))
      (then
        (local.set $x (f32x4.sub (v128.load (local.get $a)) (v128.load (local.get $b))))
        (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.mul (local.get $x) (local.get $x))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))))
    (local.set $acc0 (f32x4.add (local.get $acc0) (local.get $acc1)))
    (local.set $s (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $acc0)) (f32x4.extract_lane 1 (local.get $acc0)))
      (f32.add (f32x4.extract_lane 2 (local.get $acc0)) (f32x4.extract_lane 3 (local.get $acc0)))))
    (local.set $end (i32.add (local.get $a) (i32.shl (i32.and (local.get $d) (i32.const 3)) (i32.const 2))))
    (block $out
      (loop $tail
        (br_if $out (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $t (f32.sub (f32.load (local.get $a)) (f32.load (local.get $b))))
        (local.set $s (f32.add (local.get $s) (f32.mul (local.get $t) (local.get $t))))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (i32.const 4)))
        (br $tail)))
    (local.get $s))

  ;; Σ a[i]·b[i] over d floats.
  (func $dot (export "dot") (param $a i32) (param $b i32) (param $d i32) (result f32)
    (local $end i32) (local $acc0 v128) (local $acc1 v128) (local $s f32)
    (local.set $end (i32.add (local.get $a) (i32.shl (i32.and (local.get $d) (i32.const -8)) (i32.const 2))))
    (block $out
      (loop $step
        (br_if $out (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.mul (v128.load (local.get $a)) (v128.load (local.get $b)))))
        (local.set $acc1 (f32x4.add (local.get $acc1) (f32x4.mul (v128.load offset=16 (local.get $a)) (v128.load offset=16 (local.get $b)))))
        (local.set $a (i32.add (local.get $a) (i32.const 32)))
        (local.set $b (i32.add (local.get $b) (i32.const 32)))
        (br $step)))
    (if (i32.and (local.get $d) (i32.const 4))
      (then
        (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.mul (v128.load (local.get $a)) (v128.load (local.get $b)))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))))
    (local.set $acc0 (f32x4.add (local.get $acc0) (local.get $acc1)))
    (local.set $s (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $acc0)) (f32x4.extract_lane 1 (local.get $acc0)))
      (f32.add (f32x4.extract_lane 2 (local.get $acc0)) (f32x4.extract_lane 3 (local.get $acc0)))))
    (local.set $end (i32.add (local.get $a) (i32.shl (i32.and (local.get $d) (i32.const 3)) (i32.const 2))))
    (block $out
      (loop $tail
        (br_if $out (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (local.get $a)) (f32.load (local.get $b)))))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (i32.const 4)))
        (br $tail)))
    (local.get $s))

  ;; Σ w[i]·c[i] over d float32 weights and d unsigned 8-bit codes (a scalar
  ;; quantizer's estimate): 16 codes widened to f32x4 per step, then a scalar tail.
  (func (export "dot_u8") (param $w i32) (param $c i32) (param $d i32) (result f32)
    (local $end i32) (local $acc0 v128) (local $acc1 v128) (local $v v128) (local $h v128) (local $s f32)
    (local.set $end (i32.add (local.get $c) (i32.and (local.get $d) (i32.const -16))))
    (block $out
      (loop $step
        (br_if $out (i32.ge_u (local.get $c) (local.get $end)))
        (local.set $v (v128.load (local.get $c)))
        (local.set $h (i16x8.extend_low_i8x16_u (local.get $v)))
        (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.mul (v128.load (local.get $w))
          (f32x4.convert_i32x4_u (i32x4.extend_low_i16x8_u (local.get $h))))))
        (local.set $acc1 (f32x4.add (local.get $acc1) (f32x4.mul (v128.load offset=16 (local.get $w))
          (f32x4.convert_i32x4_u (i32x4.extend_high_i16x8_u (local.get $h))))))
        (local.set $h (i16x8.extend_high_i8x16_u (local.get $v)))
        (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.mul (v128.load offset=32 (local.get $w))
          (f32x4.convert_i32x4_u (i32x4.extend_low_i16x8_u (local.get $h))))))
        (local.set $acc1 (f32x4.add (local.get $acc1) (f32x4.mul (v128.load offset=48 (local.get $w))
          (f32x4.convert_i32x4_u (i32x4.extend_high_i16x8_u (local.get $h))))))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (local.set $w (i32.add (local.get $w) (i32.const 64)))
        (br $step)))
    (local.set $acc0 (f32x4.add (local.get $acc0) (local.get $acc1)))
    (local.set $s (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $acc0)) (f32x4.extract_lane 1 (local.get $acc0)))
      (f32.add (f32x4.extract_lane 2 (local.get $acc0)) (f32x4.extract_lane 3 (local.get $acc0)))))
    (local.set $end (i32.add (local.get $c) (i32.and (local.get $d) (i32.const 15))))
    (block $out
      (loop $tail
        (br_if $out (i32.ge_u (local.get $c) (local.get $end)))
        (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (local.get $w)) (f32.convert_i32_u (i32.load8_u (local.get $c))))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (local.set $w (i32.add (local.get $w) (i32.const 4)))
        (br $tail)))
    (local.get $s))

  ;; Two rows against one query in one pass: the query is loaded once, and the
  ;; two rows come from two places, so two memory streams run side by side
  ;; (a full scan is bound by memory bandwidth: 8-9 GB/s from one stream,
  ;; 10-11.5 from two, on this machine). $dot selects Σ a·b over Σ (a−b)².
  (func $pair (param $q i32) (param $a i32) (param $b i32) (param $d i32) (param $dot i32) (param $outA i32) (param $outB i32)
    (local $end i32) (local $accA v128) (local $accB v128) (local $vq v128) (local $x v128) (local $sA f32) (local $sB f32) (local $t f32) (local $fq f32)
    (local.set $end (i32.add (local.get $q) (i32.shl (i32.and (local.get $d) (i32.const -4)) (i32.const 2))))
    (if (local.get $dot)
      (then
        (block $out
          (loop $step
            (br_if $out (i32.ge_u (local.get $q) (local.get $end)))
            (local.set $vq (v128.load (local.get $q)))
            (local.set $accA (f32x4.add (local.get $accA) (f32x4.mul (local.get $vq) (v128.load (local.get $a)))))
            (local.set $accB (f32x4.add (local.get $accB) (f32x4.mul (local.get $vq) (v128.load (local.get $b)))))
            (local.set $q (i32.add (local.get $q) (i32.const 16)))
            (local.set $a (i32.add (local.get $a) (i32.const 16)))
            (local.set $b (i32.add (local.get $b) (i32.const 16)))
            (br $step))))
      (else
        (block $out
          (loop $step
            (br_if $out (i32.ge_u (local.get $q) (local.get $end)))
            (local.set $vq (v128.load (local.get $q)))
            (local.set $x (f32x4.sub (local.get $vq) (v128.load (local.get $a))))
            (local.set $accA (f32x4.add (local.get $accA) (f32x4.mul (local.get $x) (local.get $x))))
            (local.set $x (f32x4.sub (local.get $vq) (v128.load (local.get $b))))
            (local.set $accB (f32x4.add (local.get $accB) (f32x4.mul (local.get $x) (local.get $x))))
            (local.set $q (i32.add (local.get $q) (i32.const 16)))
            (local.set $a (i32.add (local.get $a) (i32.const 16)))
            (local.set $b (i32.add (local.get $b) (i32.const 16)))
            (br $step)))))
    (local.set $sA (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $accA)) (f32x4.extract_lane 1 (local.get $accA)))
      (f32.add (f32x4.extract_lane 2 (local.get $accA)) (f32x4.extract_lane 3 (local.get $accA)))))
    (local.set $sB (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $accB)) (f32x4.extract_lane 1 (local.get $accB)))
      (f32.add (f32x4.extract_lane 2 (local.get $accB)) (f32x4.extract_lane 3 (local.get $accB)))))
    (local.set $end (i32.add (local.get $q) (i32.shl (i32.and (local.get $d) (i32.const 3)) (i32.const 2))))
    (block $out
      (loop $tail
        (br_if $out (i32.ge_u (local.get $q) (local.get $end)))
        (local.set $fq (f32.load (local.get $q)))
        (if (local.get $dot)
          (then
            (local.set $sA (f32.add (local.get $sA) (f32.mul (local.get $fq) (f32.load (local.get $a)))))
            (local.set $sB (f32.add (local.get $sB) (f32.mul (local.get $fq) (f32.load (local.get $b))))))
          (else
            (local.set $t (f32.sub (local.get $fq) (f32.load (local.get $a))))
            (local.set $sA (f32.add (local.get $sA) (f32.mul (local.get $t) (local.get $t))))
            (local.set $t (f32.sub (local.get $fq) (f32.load (local.get $b))))
            (local.set $sB (f32.add (local.get $sB) (f32.mul (local.get $t) (local.get $t))))))
        (local.set $q (i32.add (local.get $q) (i32.const 4)))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (i32.const 4)))
        (br $tail)))
    (f32.store (local.get $outA) (local.get $sA))
    (f32.store (local.get $outB) (local.get $sB)))

  ;; out[i] = l2sq or dot (by $dot) of q and rows + i·stride floats, for i < n:
  ;; rows i and i + n/2 in pairs, then the middle row of an odd n alone.
  (func $batch (param $q i32) (param $rows i32) (param $stride i32) (param $n i32) (param $d i32) (param $out i32) (param $dot i32)
    (local $half i32) (local $i i32) (local $far i32) (local $farOut i32)
    (local.set $stride (i32.shl (local.get $stride) (i32.const 2)))
    (local.set $half (i32.shr_u (local.get $n) (i32.const 1)))
    (local.set $far (i32.add (local.get $rows) (i32.mul (local.get $half) (local.get $stride))))
    (local.set $farOut (i32.add (local.get $out) (i32.shl (local.get $half) (i32.const 2))))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $i) (local.get $half)))
        (call $pair (local.get $q) (local.get $rows) (local.get $far) (local.get $d) (local.get $dot) (local.get $out) (local.get $farOut))
        (local.set $rows (i32.add (local.get $rows) (local.get $stride)))
        (local.set $far (i32.add (local.get $far) (local.get $stride)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $farOut (i32.add (local.get $farOut) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $row)))
    ;; odd n: the last row (after the second half's pairs) on its own
    (if (i32.and (local.get $n) (i32.const 1))
      (then
        (f32.store (local.get $farOut)
          (if (result f32) (local.get $dot)
            (then (call $dot (local.get $q) (local.get $far) (local.get $d)))
            (else (call $l2sq (local.get $q) (local.get $far) (local.get $d))))))))

;; out[j] = l2sq or dot (by $dot) of q and the row base + ids[j]·rowBytes, for
  ;; j < n: an HNSW node's unvisited neighbours in one call, two rows at a time
  ;; (two independent memory streams for rows scattered over the store).
  (func (export "score_gather") (param $q i32) (param $base i32) (param $rowBytes i32) (param $ids i32) (param $n i32) (param $d i32) (param $out i32) (param $dot i32)
    (local $end i32) (local $row i32)
    (local.set $end (i32.add (local.get $ids) (i32.shl (i32.and (local.get $n) (i32.const -2)) (i32.const 2))))
    (block $done
      (loop $pairs
        (br_if $done (i32.ge_u (local.get $ids) (local.get $end)))
        (call $pair (local.get $q)
          (i32.add (local.get $base) (i32.mul (i32.load (local.get $ids)) (local.get $rowBytes)))
          (i32.add (local.get $base) (i32.mul (i32.load offset=4 (local.get $ids)) (local.get $rowBytes)))
          (local.get $d) (local.get $dot) (local.get $out) (i32.add (local.get $out) (i32.const 4)))
        (local.set $ids (i32.add (local.get $ids) (i32.const 8)))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (br $pairs)))
    (if (i32.and (local.get $n) (i32.const 1))
      (then
        (local.set $row (i32.add (local.get $base) (i32.mul (i32.load (local.get $ids)) (local.get $rowBytes))))
        (f32.store (local.get $out)
          (if (result f32) (local.get $dot)
            (then (call $dot (local.get $q) (local.get $row) (local.get $d)))
            (else (call $l2sq (local.get $q) (local.get $row) (local.get $d))))))))

  (func (export "l2sq_batch") (param $q i32) (param $rows i32) (param $stride i32) (param $n i32) (param $d i32) (param $out i32)
    (call $batch (local.get $q) (local.get $rows) (local.get $stride) (local.get $n) (local.get $d) (local.get $out) (i32.const 0)))

  (func (export "dot_batch") (param $q i32) (param $rows i32) (param $stride i32) (param $n i32) (param $d i32) (param $out i32)
    (call $batch (local.get $q) (local.get $rows) (local.get $stride) (local.get $n) (local.get $d) (local.get $out) (i32.const 1)))

  ;; Hamming distance between two 1-bit codes of `words` 32-bit words:
  ;; i64.popcnt over pairs of words, i32.popcnt for an odd last word.
  (func $hamming (export "hamming") (param $a i32) (param $b i32) (param $words i32) (result i32)
    (local $end i32) (local $h i64)
    (local.set $end (i32.add (local.get $a) (i32.shl (i32.and (local.get $words) (i32.const -2)) (i32.const 2))))
    (block $out
      (loop $step
        (br_if $out (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $h (i64.add (local.get $h) (i64.popcnt (i64.xor (i64.load (local.get $a)) (i64.load (local.get $b))))))
        (local.set $a (i32.add (local.get $a) (i32.const 8)))
        (local.set $b (i32.add (local.get $b) (i32.const 8)))
        (br $step)))
    (if (result i32) (i32.and (local.get $words) (i32.const 1))
      (then (i32.add (i32.wrap_i64 (local.get $h)) (i32.popcnt (i32.xor (i32.load (local.get $a)) (i32.load (local.get $b))))))
      (else (i32.wrap_i64 (local.get $h)))))

  ;; out[i] = hamming(q, codes + i·words words, words) for i < n, as i32:
  ;; one call scans a clustered leaf.
  (func (export "hamming_batch") (param $q i32) (param $codes i32) (param $words i32) (param $n i32) (param $out i32)
    (local $end i32) (local $stride i32)
    (local.set $stride (i32.shl (local.get $words) (i32.const 2)))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (i32.store (local.get $out) (call $hamming (local.get $q) (local.get $codes) (local.get $words)))
        (local.set $codes (i32.add (local.get $codes) (local.get $stride)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $row))))

  ;; The query's residual to a clustered leaf: u = q − c over p floats
  ;; (float32 differences). Writes the sign bits of u[0..bits) to `code`
  ;; (bit set for u > 0, i.e. sign bit clear; ceil(bits/32) words) and
  ;; returns Σ u² in float64, summed in four lanes by i mod 4 over whole
  ;; groups of four, lanes added as (s0 + s2) + (s1 + s3), then the tail in
  ;; order (residualCode in binary_code.ts sums in exactly this order).
  (func (export "residual_code") (param $q i32) (param $c i32) (param $p i32) (param $bits i32) (param $code i32) (result f64)
    (local $i i32) (local $end i32) (local $x v128) (local $lo v128) (local $hi v128) (local $acc0 v128) (local $acc1 v128)
    (local $w i32) (local $t f32) (local $s f64) (local $words i32)
    (local.set $words (i32.shr_u (i32.add (local.get $bits) (i32.const 31)) (i32.const 5)))
    (memory.fill (local.get $code) (i32.const 0) (i32.shl (local.get $words) (i32.const 2)))
    (local.set $end (i32.and (local.get $p) (i32.const -4)))
    (block $out
      (loop $step
        (br_if $out (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $x (f32x4.sub (v128.load (local.get $q)) (v128.load (local.get $c))))
        (local.set $lo (f64x2.promote_low_f32x4 (local.get $x)))
        (local.set $hi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x))))
        (local.set $acc0 (f64x2.add (local.get $acc0) (f64x2.mul (local.get $lo) (local.get $lo))))
        (local.set $acc1 (f64x2.add (local.get $acc1) (f64x2.mul (local.get $hi) (local.get $hi))))
        (if (i32.lt_u (local.get $i) (local.get $bits))
          (then
            (local.set $w (i32.add (local.get $code) (i32.shl (i32.shr_u (local.get $i) (i32.const 5)) (i32.const 2))))
            (i32.store (local.get $w) (i32.or (i32.load (local.get $w))
              (i32.shl (i32.xor (i32x4.bitmask (local.get $x)) (i32.const 15)) (i32.and (local.get $i) (i32.const 31)))))))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $step)))
    (local.set $acc0 (f64x2.add (local.get $acc0) (local.get $acc1)))
    (local.set $s (f64.add (f64x2.extract_lane 0 (local.get $acc0)) (f64x2.extract_lane 1 (local.get $acc0))))
    (block $out
      (loop $tail
        (br_if $out (i32.ge_u (local.get $i) (local.get $p)))
        (local.set $t (f32.sub (f32.load (local.get $q)) (f32.load (local.get $c))))
        (local.set $s (f64.add (local.get $s) (f64.mul (f64.promote_f32 (local.get $t)) (f64.promote_f32 (local.get $t)))))
        (if (i32.and (i32.lt_u (local.get $i) (local.get $bits)) (i32.ge_s (i32.reinterpret_f32 (local.get $t)) (i32.const 0)))
          (then
            (local.set $w (i32.add (local.get $code) (i32.shl (i32.shr_u (local.get $i) (i32.const 5)) (i32.const 2))))
            (i32.store (local.get $w) (i32.or (i32.load (local.get $w)) (i32.shl (i32.const 1) (i32.and (local.get $i) (i32.const 31)))))))
        (local.set $q (i32.add (local.get $q) (i32.const 4)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    ;; a group of four may have set bits past `bits` in the last word
    (if (i32.and (local.get $bits) (i32.const 31))
      (then
        (local.set $w (i32.add (local.get $code) (i32.shl (i32.sub (local.get $words) (i32.const 1)) (i32.const 2))))
        (i32.store (local.get $w) (i32.and (i32.load (local.get $w))
          (i32.sub (i32.shl (i32.const 1) (i32.and (local.get $bits) (i32.const 31))) (i32.const 1))))))
    (local.get $s))

  ;; A clustered leaf scan in one call: for i < n, h = hamming(q, code i) and
  ;; out[i] (float64) = the distance estimate from h, r = rnorms[i] (float32)
  ;; and cos = cosTab[h] (float64):
  ;;   dot = 0: base + r·(r − 2·un·cos)      dot = 1: base − un·r·cos
  ;; the same float64 operations, in the same order, as clustered.ts's scanLeaf.
  (func (export "code_estimates") (param $q i32) (param $codes i32) (param $words i32) (param $n i32) (param $rnorms i32) (param $cos i32)
      (param $base f64) (param $un f64) (param $dot i32) (param $out i32)
    (local $end i32) (local $pairs i32) (local $a i32) (local $b i32) (local $h i64) (local $hh i32) (local $r f64) (local $cs f64) (local $twoUn f64)
    (local.set $twoUn (f64.mul (f64.const 2) (local.get $un)))
    (local.set $pairs (i32.shl (i32.and (local.get $words) (i32.const -2)) (i32.const 2)))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $a (local.get $q))
        (local.set $b (local.get $codes))
        (local.set $h (i64.const 0))
        (local.set $codes (i32.add (local.get $codes) (local.get $pairs)))
        (block $wout
          (loop $word
            (br_if $wout (i32.ge_u (local.get $b) (local.get $codes)))
            (local.set $h (i64.add (local.get $h) (i64.popcnt (i64.xor (i64.load (local.get $a)) (i64.load (local.get $b))))))
            (local.set $a (i32.add (local.get $a) (i32.const 8)))
            (local.set $b (i32.add (local.get $b) (i32.const 8)))
            (br $word)))
        (local.set $hh (i32.wrap_i64 (local.get $h)))
        (if (i32.and (local.get $words) (i32.const 1))
          (then
            (local.set $hh (i32.add (local.get $hh) (i32.popcnt (i32.xor (i32.load (local.get $a)) (i32.load (local.get $b))))))
            (local.set $codes (i32.add (local.get $codes) (i32.const 4)))))
        (local.set $r (f64.promote_f32 (f32.load (local.get $rnorms))))
        (local.set $cs (f64.load (i32.add (local.get $cos) (i32.shl (local.get $hh) (i32.const 3)))))
        (f64.store (local.get $out)
          (if (result f64) (local.get $dot)
            (then (f64.sub (local.get $base) (f64.mul (f64.mul (local.get $un) (local.get $r)) (local.get $cs))))
            (else (f64.add (local.get $base) (f64.mul (local.get $r) (f64.sub (local.get $r) (f64.mul (local.get $twoUn) (local.get $cs))))))))
        (local.set $rnorms (i32.add (local.get $rnorms) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (br $row))))
)
