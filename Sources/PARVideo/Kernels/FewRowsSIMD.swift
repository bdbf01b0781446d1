import Foundation

// The portable few-row product (Swift SIMD): what `productChunk` runs where the
// CPU has no AVX-512 (CKernels/fewrows.c is the AVX-512 variant of the same
// kernel), and the F16/BF16 widening the sgemm tiles share.

/// SIMD widening of F16/BF16 to fp32.
@inline(__always)
func widen(_ raw: UnsafeRawBufferPointer, dtype: DType, into out: UnsafeMutablePointer<Float>, count: Int) {
    let src = raw.baseAddress!
    var i = 0
    if dtype == .bf16 {
        while i + 16 <= count {
            let h = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<UInt16>.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: bf16ToFloat(h), as: SIMD16<Float>.self)
            i += 16
        }
    } else {
        while i + 16 <= count {
            let h = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<Float16>.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: SIMD16<Float>(h), as: SIMD16<Float>.self)
            i += 16
        }
    }
    if i < count {
        convertToFloat(UnsafeRawBufferPointer(start: src + 2 * i, count: 2 * (count - i)), dtype: dtype, into: out + i, count: count - i)
    }
}

@inline(__always)
func bf16ToFloat(_ h: SIMD16<UInt16>) -> SIMD16<Float> {
    unsafeBitCast(SIMD16<UInt32>(truncatingIfNeeded: h) &<< 16, to: SIMD16<Float>.self)
}

@inline(__always)
func loadF(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD16<Float> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
}

/// Loads 16 weights widened to fp32 (one type per stored dtype, so the
/// few-row kernel is specialised for each).
protocol WeightLoad {
    static var width: Int { get }
    static func load16(_ p: UnsafeRawPointer, _ i: Int) -> SIMD16<Float>
    static func load1(_ p: UnsafeRawPointer, _ i: Int) -> Float
}
enum LoadF32: WeightLoad {
    static var width: Int { 4 }
    @inline(__always) static func load16(_ p: UnsafeRawPointer, _ i: Int) -> SIMD16<Float> { p.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) }
    @inline(__always) static func load1(_ p: UnsafeRawPointer, _ i: Int) -> Float { p.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
}
enum LoadF16: WeightLoad {
    static var width: Int { 2 }
    @inline(__always) static func load16(_ p: UnsafeRawPointer, _ i: Int) -> SIMD16<Float> { SIMD16<Float>(p.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<Float16>.self)) }
    @inline(__always) static func load1(_ p: UnsafeRawPointer, _ i: Int) -> Float { Float(p.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self)) }
}
enum LoadBF16: WeightLoad {
    static var width: Int { 2 }
    @inline(__always) static func load16(_ p: UnsafeRawPointer, _ i: Int) -> SIMD16<Float> { bf16ToFloat(p.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<UInt16>.self)) }
    @inline(__always) static func load1(_ p: UnsafeRawPointer, _ i: Int) -> Float { Float(bitPattern: UInt32(p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
}

/// Few-row product. Four weight rows are streamed side by side (four memory
/// streams in flight, which a single-stream loop leaves to the prefetcher)
/// against one or two input rows at a time; the four rows stay in L1 for the
/// next pair of input rows, so memory sees every weight once per call. Each
/// (input row, output) sum has its own accumulator and is formed in the same
/// order whatever `rows`, the blocking or the thread count.
@inline(__always)
func fewRowDot<L: WeightLoad>(_: L.Type, _ x: UnsafePointer<Float>, rows: Int, _ w: WeightMatrix, j0: Int, cols: Int,
                               _ y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>?) {
    let k = w.cols, stride = k * L.width
    let end = j0 + cols
    var j = j0
    while j < end {
        let nj = min(4, end - j)
        // Past the chunk's end the last row is repeated; those sums are not stored.
        let wr = (w.data + j * stride, w.data + min(j + 1, end - 1) * stride,
                  w.data + min(j + 2, end - 1) * stride, w.data + min(j + 3, end - 1) * stride)
        if let scratch {
            widen(UnsafeRawBufferPointer(start: wr.0, count: stride), dtype: w.dtype, into: scratch, count: k)
            widen(UnsafeRawBufferPointer(start: wr.1, count: stride), dtype: w.dtype, into: scratch + k, count: k)
            widen(UnsafeRawBufferPointer(start: wr.2, count: stride), dtype: w.dtype, into: scratch + 2 * k, count: k)
            widen(UnsafeRawBufferPointer(start: wr.3, count: stride), dtype: w.dtype, into: scratch + 3 * k, count: k)
            let f = UnsafeRawPointer(scratch)
            rowPairs(LoadF32.self, (f, f + 4 * k, f + 8 * k, f + 12 * k), x, rows: rows, k: k, y + j, out: w.rows, nj: nj)
        } else {
            rowPairs(L.self, wr, x, rows: rows, k: k, y + j, out: w.rows, nj: nj)
        }
        j += nj
    }
}

/// All input rows against one block of four weight rows, two rows at a time.
@inline(__always)
func rowPairs<L: WeightLoad>(_: L.Type, _ wr: FourRows, _ x: UnsafePointer<Float>, rows: Int, k: Int,
                             _ y: UnsafeMutablePointer<Float>, out: Int, nj: Int) {
    var r = 0
    while r < rows {
        if rows - r >= 2 {
            let s = dot4x2(L.self, wr, x + r * k, x + (r + 1) * k, k)
            for p in 0..<nj { y[r * out + p] = s.0[p]; y[(r + 1) * out + p] = s.1[p] }
            r += 2
        } else {
            let s = dot4x1(L.self, wr, x + r * k, k)
            for p in 0..<nj { y[r * out + p] = s[p] }
            r += 1
        }
    }
}

typealias FourRows = (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer)

/// Dot products of one input row with four weight rows.
@inline(__always)
func dot4x1<L: WeightLoad>(_: L.Type, _ w: FourRows, _ x: UnsafePointer<Float>, _ k: Int) -> SIMD4<Float> {
    let k16 = k / 16 * 16
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
    var i = 0
    while i < k16 {
        let xv = loadF(x, i)
        a0.addProduct(xv, L.load16(w.0, i))
        a1.addProduct(xv, L.load16(w.1, i))
        a2.addProduct(xv, L.load16(w.2, i))
        a3.addProduct(xv, L.load16(w.3, i))
        i += 16
    }
    var s = SIMD4<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum())
    while i < k {
        s[0] += x[i] * L.load1(w.0, i); s[1] += x[i] * L.load1(w.1, i)
        s[2] += x[i] * L.load1(w.2, i); s[3] += x[i] * L.load1(w.3, i)
        i += 1
    }
    return s
}

/// Dot products of two input rows with four weight rows (each weight load serves both rows).
@inline(__always)
func dot4x2<L: WeightLoad>(_: L.Type, _ w: FourRows, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>,
                           _ k: Int) -> (SIMD4<Float>, SIMD4<Float>) {
    let k16 = k / 16 * 16
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
    var b0 = SIMD16<Float>(), b1 = SIMD16<Float>(), b2 = SIMD16<Float>(), b3 = SIMD16<Float>()
    var i = 0
    while i < k16 {
        let u = loadF(x0, i), v = loadF(x1, i)
        let w0 = L.load16(w.0, i), w1 = L.load16(w.1, i), w2 = L.load16(w.2, i), w3 = L.load16(w.3, i)
        a0.addProduct(u, w0); a1.addProduct(u, w1); a2.addProduct(u, w2); a3.addProduct(u, w3)
        b0.addProduct(v, w0); b1.addProduct(v, w1); b2.addProduct(v, w2); b3.addProduct(v, w3)
        i += 16
    }
    var s = SIMD4<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum())
    var t = SIMD4<Float>(b0.sum(), b1.sum(), b2.sum(), b3.sum())
    while i < k {
        let p = SIMD4<Float>(L.load1(w.0, i), L.load1(w.1, i), L.load1(w.2, i), L.load1(w.3, i))
        s += x0[i] * p; t += x1[i] * p
        i += 1
    }
    return (s, t)
}
