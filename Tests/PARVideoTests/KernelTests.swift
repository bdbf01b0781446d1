import Foundation
import XCTest
import CKernels
@testable import PARVideo

/// The matrix product on every path (few-row kernel, sgemm, widened tiles)
/// against a float64 loop, for every weight dtype.
final class KernelTests: XCTestCase {
    func testMatmulAllPathsAndDtypes() {
        // The C AVX-512 few-row kernel where the CPU has it, and the portable Swift one.
        // On AVX512_BF16, bf16 weights take the vdpbf16ps kernel, or the widening one when it is off.
        let saved = useAVX512DecodeKernels, savedDot = useBF16DotKernels
        defer { useAVX512DecodeKernels = saved; useBF16DotKernels = savedDot }
        for (avx, dot) in kernelChoices(avx: saved, dot: savedDot) {
            useAVX512DecodeKernels = avx; useBF16DotKernels = dot
            checkMatmulAllPathsAndDtypes(label: avx ? dot ? "avx512 bf16 dot" : "avx512" : "portable")
        }
    }

    /// The few-row kernels this CPU can run: (AVX-512, bf16 dot products).
    func kernelChoices(avx: Bool, dot: Bool) -> [(Bool, Bool)] {
        [(false, false)] + (avx ? [(true, false)] : []) + (avx && dot ? [(true, true)] : [])
    }

    /// A row's result does not depend on how many rows share the call (B clips and
    /// the CFG batch must not change a clip's tokens), on either few-row kernel,
    /// past one group of the k-blocked kernel (32 rows) too.
    /// Peak RSS from /proc/self/status, including the 8-digit kB values (10 GB
    /// and up) that follow the tab with no space; the bench printed 0 GB for them.
    func testStatusFieldParsing() {
        let status = "Name:\tpar-video\nVmPeak:\t12000000 kB\nVmHWM:\t10485760 kB\nVmRSS:\t  123456 kB\n"
        XCTAssertEqual(Roofline.statusBytes(status, field: "VmHWM"), 10_485_760 * 1024)
        XCTAssertEqual(Roofline.statusBytes(status, field: "VmRSS"), 123_456 * 1024)
        XCTAssertNil(Roofline.statusBytes(status, field: "VmSwap"))
        XCTAssertGreaterThan(Roofline.peakMemory(), 1 << 20)  // this process, read live
    }

    func testRowResultIndependentOfRowCount() {
        let out = 301, k = 1280
        let saved = useAVX512DecodeKernels, savedDot = useBF16DotKernels
        defer { useAVX512DecodeKernels = saved; useBF16DotKernels = savedDot }
        for dt in [DType.f32, .f16, .bf16] {
            var cfg = GPTConfig(dim: k, nLayer: 1, nHead: 2, vocabSize: out, numClasses: 1, cube: [1, 1, 1], parallel: 1, rope: .threeD)
            cfg.multipleOf = 8
            let w = GPTWeights(randomFor: cfg, dtype: dt, seed: 5).output
            let maxRows = 100
            let x = (0..<(maxRows * k)).map { Float(($0 * 29) % 31) / 31 - 0.5 }
            for (avx, dot) in kernelChoices(avx: saved, dot: savedDot) {
                useAVX512DecodeKernels = avx; useBF16DotKernels = dot
                // Each row alone, then in calls of every tiling (4-row tiles, 2- and 1-row rests).
                var single = [Float](repeating: 0, count: maxRows * out)
                for r in 0..<maxRows {
                    var one = [Float](repeating: 0, count: out)
                    matmul(Array(x[(r * k)..<((r + 1) * k)]), rows: 1, w, &one)
                    single.replaceSubrange((r * out)..<((r + 1) * out), with: one)
                }
                for rows in [2, 3, 5, 7, 8, 17, 32, 47, 64, maxRows] {
                    var many = [Float](repeating: 0, count: rows * out)
                    matmul(Array(x[0..<(rows * k)]), rows: rows, w, &many)
                    XCTAssertEqual(many, Array(single[0..<(rows * out)]), "\(dt) avx512 \(avx) dot \(dot) rows \(rows)")
                }
            }
        }
    }

    /// The AVX-512 softmax (vector exp) against the scalar one in float64.
    func testSoftmaxRowAgainstFloat64() throws {
        try XCTSkipUnless(ck_has_avx512() != 0, "no AVX-512 on this CPU")
        for (limit, len) in [(1, 1), (15, 20), (16, 16), (17, 40), (1000, 1003)] {
            var r = (0..<len).map { Float(sin(Double($0) * 1.7)) * 9 }
            let ref: [Double] = {
                let v = r[0..<limit].map(Double.init), m = v.max()!
                let e = v.map { exp($0 - m) }, s = e.reduce(0, +)
                return e.map { $0 / s }
            }()
            pk_softmax_row(&r, Int32(limit), Int32(len))
            for c in 0..<limit { XCTAssertEqual(Double(r[c]), ref[c], accuracy: 2e-6 * max(ref[c], 1e-30) + 1e-12, "limit \(limit) c \(c)") }
            for c in limit..<len { XCTAssertEqual(r[c], 0) }
        }
    }

    /// Attention against float64 on both paths (the C kernel and OpenBLAS), for head
    /// sizes that fill and that leave part of a 16-lane vector, grouped heads and
    /// per-query key limits; on the C kernel a query's output is the same, bit for
    /// bit, alone or with others.
    func testAttentionAgainstFloat64AndRowIndependence() {
        let saved = useAVX512DecodeKernels
        defer { useAVX512DecodeKernels = saved }
        let seqs = 2, maxLen = 300
        for (hd, nHead, kvHeads) in [(8, 4, 2), (16, 2, 2), (24, 2, 1), (64, 3, 3), (72, 2, 2), (128, 2, 2)] {
            let dim = nHead * hd, kvDim = kvHeads * hd, qStride = dim + 2 * kvDim
            let cache = [Float]((0..<(seqs * kvHeads * maxLen * hd)).map { Float(sin(Double($0) * 0.37)) })
            let vals = [Float]((0..<(seqs * kvHeads * maxLen * hd)).map { Float(cos(Double($0) * 0.61)) })
            for rows in [1, 3, 8, 16] {
                let limits = (0..<rows).map { maxLen - 17 * $0 - ($0 % 2) * 5 }
                let q = [Float]((0..<(seqs * rows * qStride)).map { Float(sin(Double($0) * 1.3)) * 0.5 })
                func run(_ rowsRun: Int, _ lim: [Int], _ qs: [Float]) -> [Float] {
                    var out = [Float](repeating: 0, count: seqs * rowsRun * dim)
                    let scores = FloatBuffer(Parallel.threads * rowsRun * maxLen)
                    qs.withUnsafeBufferPointer { qp in cache.withUnsafeBufferPointer { kp in vals.withUnsafeBufferPointer { vp in
                        out.withUnsafeMutableBufferPointer { op in
                            attention(q: qp.baseAddress!, qStride: qStride, seqs: seqs, rows: rowsRun, limits: lim,
                                      keys: kp.baseAddress!, values: vp.baseAddress!, maxLen: maxLen, nHead: nHead,
                                      kvHeads: kvHeads, headDim: hd, scores: scores, out: op.baseAddress!)
                        } } } }
                    return out
                }
                for avx in saved ? [true, false] : [false] {
                    useAVX512DecodeKernels = avx
                    let got = run(rows, limits, q)
                    for s in 0..<seqs { for j in 0..<rows { for h in 0..<nHead {
                        let kvBase = (s * kvHeads + h / (nHead / kvHeads)) * maxLen * hd
                        let qo = (s * rows + j) * qStride + h * hd
                        var sc = (0..<limits[j]).map { c in (0..<hd).reduce(0.0) { $0 + Double(q[qo + $1]) * Double(cache[kvBase + c * hd + $1]) } / Double(hd).squareRoot() }
                        let m = sc.max()!
                        sc = sc.map { exp($0 - m) }
                        let z = sc.reduce(0, +)
                        for d in 0..<hd {
                            let want = (0..<limits[j]).reduce(0.0) { $0 + sc[$1] / z * Double(vals[kvBase + $1 * hd + d]) }
                            XCTAssertEqual(Double(got[(s * rows + j) * dim + h * hd + d]), want, accuracy: 1e-5,
                                           "hd \(hd) rows \(rows) avx512 \(avx) s \(s) j \(j) h \(h) d \(d)")
                        }
                    } } }
                    guard avx, rows > 1 else { continue }
                    for j in [0, rows - 1] {
                        var qj = [Float]()
                        for s in 0..<seqs { qj += q[((s * rows + j) * qStride)..<((s * rows + j + 1) * qStride)] }
                        let alone = run(1, [limits[j]], qj)
                        for s in 0..<seqs {
                            XCTAssertEqual(Array(got[((s * rows + j) * dim)..<((s * rows + j + 1) * dim)]),
                                           Array(alone[(s * dim)..<((s + 1) * dim)]), "hd \(hd) rows \(rows) j \(j)")
                        }
                    }
                }
            }
        }
    }

    /// The SwiGLU gate and RMSNorm (16-lane sums; on AVX-512 a vector exp) against float64.
    func testSiluMulAndRMSNormAgainstFloat64() {
        let saved = useAVX512DecodeKernels
        defer { useAVX512DecodeKernels = saved }
        for avx in saved ? [true, false] : [false] {
            useAVX512DecodeKernels = avx
            for n in [1, 15, 16, 17, 1000] {
                let a0 = (0..<n).map { Float(sin(Double($0) * 0.9)) * 12 }, b = (0..<n).map { Float(cos(Double($0) * 0.4)) }
                var a = a0
                siluMul(&a, b, count: n)
                for i in 0..<n {
                    let x = Double(a0[i]), want = x / (1 + exp(-x)) * Double(b[i])
                    XCTAssertEqual(Double(a[i]), want, accuracy: 3e-6 * max(abs(want), 1e-3), "avx512 \(avx) n \(n) i \(i)")
                }
            }
        }
        for dim in [8, 24, 1280] {
            let x = (0..<(2 * dim)).map { Float(sin(Double($0) * 0.3)) * 3 }, w = (0..<dim).map { 1 + Float($0 % 5) * 0.1 }
            var out = [Float](repeating: 0, count: 2 * dim)
            rmsNorm(x, rows: 2, dim: dim, weight: w, eps: 1e-5, &out)
            for r in 0..<2 {
                let ss = (0..<dim).reduce(0.0) { $0 + Double(x[r * dim + $1]) * Double(x[r * dim + $1]) }
                let scale = 1 / (ss / Double(dim) + 1e-5).squareRoot()
                for i in 0..<dim {
                    XCTAssertEqual(Double(out[r * dim + i]), Double(x[r * dim + i]) * scale * Double(w[i]), accuracy: 2e-6, "dim \(dim)")
                }
            }
        }
    }

    /// The fused SwiGLU hidden layer equals two products and the gate, bit for bit.
    func testMatmulSwiGLUEqualsSeparateProducts() {
        var cfg = GPTConfig(dim: 256, nLayer: 1, nHead: 4, vocabSize: 16, numClasses: 1, cube: [1, 1, 1], parallel: 1, rope: .threeD)
        cfg.multipleOf = 64
        for dt in [DType.f32, .bf16] {
            let blk = GPTWeights(randomFor: cfg, dtype: dt, seed: 9).blocks[0]
            let hidden = blk.w1.rows
            for rows in [1, 2, 7, 50] {
                let x = (0..<(rows * 256)).map { Float(($0 * 37) % 41) / 41 - 0.5 }
                var a1 = [Float](repeating: 0, count: rows * hidden), b1 = a1, a2 = a1, b2 = a1
                matmul(x, rows: rows, blk.w1, &a1)
                matmul(x, rows: rows, blk.w3, &b1)
                a1.withUnsafeMutableBufferPointer { a in b1.withUnsafeBufferPointer { b in siluMul(a.baseAddress!, b.baseAddress!, count: rows * hidden) } }
                a2.withUnsafeMutableBufferPointer { a in b2.withUnsafeMutableBufferPointer { b in
                    x.withUnsafeBufferPointer { xp in matmulSwiGLU(xp.baseAddress!, rows: rows, blk.w1, blk.w3, a.baseAddress!, b.baseAddress!) } } }
                XCTAssertEqual(a2, a1, "\(dt) rows \(rows)")
            }
        }
    }

    func checkMatmulAllPathsAndDtypes(label: String) {
        let out = 300, k = 72  // k not a multiple of 16: exercises the tails
        for dt in [DType.f32, .f16, .bf16] {
            var cfg = GPTConfig(dim: k, nLayer: 1, nHead: 2, vocabSize: out, numClasses: 1, cube: [1, 1, 1], parallel: 1, rope: .threeD)
            cfg.multipleOf = 8
            let w = GPTWeights(randomFor: cfg, dtype: dt, seed: 3).output
            var wf = [Float](repeating: 0, count: out * k)
            wf.withUnsafeMutableBufferPointer { p in for j in 0..<out { w.copyRow(j, into: p.baseAddress! + j * k) } }
            for (rows, blas) in [1, 3, 5, 47, 48, 65].flatMap({ r in [(r, false), (r, true)] }) {
                let x = (0..<(rows * k)).map { Float(($0 * 37) % 23) / 23 - 0.5 }
                var y = [Float](repeating: .nan, count: rows * out)
                if blas {
                    y.withUnsafeMutableBufferPointer { yp in x.withUnsafeBufferPointer { xp in
                        matmulBLAS(xp.baseAddress!, rows: rows, w, yp.baseAddress!) } }
                } else {
                    matmul(x, rows: rows, w, &y)
                }
                // bf16 weights multiply the inputs rounded to bf16 (nearest even)
                let xr = dt == .bf16 ? x.map(roundToBF16) : x
                var worst = 0.0
                for r in 0..<rows {
                    for j in 0..<out {
                        var ref = 0.0
                        for i in 0..<k { ref += Double(xr[r * k + i]) * Double(wf[j * k + i]) }
                        worst = max(worst, abs(Double(y[r * out + j]) - ref))
                    }
                }
                XCTAssertLessThan(worst, 1e-5, "\(label) \(dt) rows \(rows) blas \(blas)")
            }
        }
    }
}

