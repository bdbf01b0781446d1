import Foundation
import CKernels
import COpenBLAS

/// A weight matrix as stored by PyTorch's nn.Linear: `rows` outputs, each a
/// contiguous row of `cols` inputs, in F32, F16 or BF16. It views memory
/// owned by `owner` (a mapped file or a buffer) and never copies it.
public struct WeightMatrix: @unchecked Sendable {
    public let rows: Int, cols: Int
    public let dtype: DType
    public let data: UnsafeRawPointer
    let owner: AnyObject

    public init(rows: Int, cols: Int, dtype: DType, data: UnsafeRawPointer, owner: AnyObject) {
        precondition([.f32, .f16, .bf16].contains(dtype))
        self.rows = rows; self.cols = cols; self.dtype = dtype; self.data = data; self.owner = owner
    }

    public var bytes: Int { rows * cols * dtype.byteSize }

    /// Row `r` widened to fp32 into `out` (embedding lookup).
    public func copyRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        let raw = UnsafeRawBufferPointer(start: data + r * cols * dtype.byteSize, count: cols * dtype.byteSize)
        convertToFloat(raw, dtype: dtype, into: out, count: cols)
    }
}

/// The decode products run the own dot-product kernels for every row count: they
/// read each weight once per call, while sgemm packs the whole weight matrix on
/// every call (more than the product itself below a few dozen rows, measured:
/// `par-video bench --kernels`), and the kernels form every (row, output) sum in
/// one fixed order, so a row's result does not depend on how many rows share the
/// call: clip i of a batch of B is the clip decoded alone, whatever B. (When
/// sgemm took over from 48 rows, clips of larger batches differed from the same
/// clips decoded alone.) sgemm remains as `matmulBLAS`.
///
/// The few-row products and attention's softmax run the C AVX-512 kernels when
/// the CPU has them (tests switch them off to check the portable Swift code; a
/// few-row sum is independent of the row count with either, but the two reduce
/// their lanes in different orders).
nonisolated(unsafe) var useAVX512DecodeKernels = ck_has_avx512() != 0
/// Output rows widened per sgemm tile (a 1280-wide tile is 640 KB: stays in L2).
let halfTileRows = 128

/// Per-thread scratch for widened tiles.
final class TileScratch: @unchecked Sendable {
    static let shared = TileScratch()
    private var buffers: [FloatBuffer] = []
    private let lock = NSLock()
    func buffer(_ worker: Int, count: Int) -> UnsafeMutablePointer<Float> {
        lock.lock(); defer { lock.unlock() }
        while buffers.count <= worker { buffers.append(FloatBuffer(0)) }
        if buffers[worker].count < count { buffers[worker] = FloatBuffer(count) }
        return buffers[worker].ptr
    }
}

/// The fixed output chunks for `outputs` columns: enough to feed two threads
/// evenly, independent of the thread count (a chunk never splits a sum, so the
/// chunking does not change a result). Past 12 input rows the product is compute
/// bound and a chunk takes milliseconds: 16 chunks instead of 8 halve the wait at
/// the end of each product (n = 16 paper step ~3% faster in alternating runs).
@inline(__always)
func outputChunks(_ outputs: Int, rows: Int = 1) -> (count: Int, size: Int) {
    let parts = rows > 12 ? 16 : 8
    let size = max(16, ((outputs + parts - 1) / parts + 15) / 16 * 16)
    return ((outputs + size - 1) / size, size)
}

/// y[r, j] = sum_k x[r, k] * W[j, k] for r < rows: y = x W^T, fp32 result.
/// `x` is rows x W.cols, `y` is rows x W.rows (row stride W.rows).
public func matmul(_ x: UnsafePointer<Float>, rows: Int, _ w: WeightMatrix, _ y: UnsafeMutablePointer<Float>) {
    let (chunks, size) = outputChunks(w.rows, rows: rows)
    Parallel.forEach(chunks) { c, worker in
        let j0 = c * size
        productChunk(x, rows: rows, w, j0: j0, cols: min(size, w.rows - j0), y, worker: worker)
    }
}

/// The same product through OpenBLAS sgemm (F16/BF16 widened into fp32 tiles):
/// the roofline's sgemm ceiling, and a second path for the tests.
public func matmulBLAS(_ x: UnsafePointer<Float>, rows: Int, _ w: WeightMatrix, _ y: UnsafeMutablePointer<Float>) {
    let (chunks, size) = outputChunks(w.rows)
    Parallel.forEach(chunks) { c, worker in
        let j0 = c * size
        blasChunk(x, rows: rows, w, j0: j0, cols: min(size, w.rows - j0), y, worker: worker)
    }
}

/// SwiGLU's hidden layer: a = silu(x W1^T) * (x W3^T), b = x W3^T (scratch). Each
/// output chunk computes both products for its columns and gates them at once, so
/// the step waits for the threads once instead of three times. Same sums and the
/// same element-wise gate as `matmul` twice then `siluMul`, bit for bit.
public func matmulSwiGLU(_ x: UnsafePointer<Float>, rows: Int, _ w1: WeightMatrix, _ w3: WeightMatrix,
                         _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>) {
    precondition(w1.rows == w3.rows && w1.cols == w3.cols)
    let (chunks, size) = outputChunks(w1.rows, rows: rows)
    Parallel.forEach(chunks) { c, worker in
        let j0 = c * size, cols = min(size, w1.rows - j0)
        productChunk(x, rows: rows, w1, j0: j0, cols: cols, a, worker: worker)
        productChunk(x, rows: rows, w3, j0: j0, cols: cols, b, worker: worker)
        for r in 0..<rows { siluMul(a + r * w1.rows + j0, b + r * w1.rows + j0, count: cols) }
    }
}

/// y[r, j] for j0 <= j < j0 + cols: the C kernel on AVX-512, Swift SIMD elsewhere.
@inline(__always)
func productChunk(_ x: UnsafePointer<Float>, rows: Int, _ w: WeightMatrix, j0: Int, cols: Int,
                  _ y: UnsafeMutablePointer<Float>, worker: Int) {
    let k = w.cols
    if useAVX512DecodeKernels {
        let dt: Int32 = w.dtype == .f32 ? Int32(PK_F32) : w.dtype == .f16 ? Int32(PK_F16) : Int32(PK_BF16)
        pk_fewrows(Int32(rows), Int32(k), x, w.data, dt, Int32(j0), Int32(cols), y, w.rows)
        return
    }
    // Half weights for more than two rows: each block of four weight rows is
    // widened once into fp32 scratch (it stays in L1) instead of once per row pair.
    let scratch = w.dtype != .f32 && rows > 2 ? TileScratch.shared.buffer(worker, count: 4 * k) : nil
    switch w.dtype {
    case .f32: fewRowDot(LoadF32.self, x, rows: rows, w, j0: j0, cols: cols, y, scratch: nil)
    case .f16: fewRowDot(LoadF16.self, x, rows: rows, w, j0: j0, cols: cols, y, scratch: scratch)
    default: fewRowDot(LoadBF16.self, x, rows: rows, w, j0: j0, cols: cols, y, scratch: scratch)
    }
}

/// y[r, j] for j0 <= j < j0 + cols through sgemm.
func blasChunk(_ x: UnsafePointer<Float>, rows: Int, _ w: WeightMatrix, j0: Int, cols: Int,
               _ y: UnsafeMutablePointer<Float>, worker: Int) {
    let k = w.cols
    switch w.dtype {
    case .f32:
        let wp = w.data.assumingMemoryBound(to: Float.self) + j0 * k
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(cols), Int32(k),
                    1, x, Int32(k), wp, Int32(k), 0, y + j0, Int32(w.rows))
    case .f16, .bf16:
        halfTiles(x, rows: rows, w, j0: j0, cols: cols, y, worker: worker)
    default:
        preconditionFailure("matmul: weight dtype \(w.dtype)")
    }
}

/// Widens W[j0..<j0+cols] tile by tile into fp32 scratch and multiplies with sgemm.
private func halfTiles(_ x: UnsafePointer<Float>, rows: Int, _ w: WeightMatrix, j0: Int, cols: Int,
                       _ y: UnsafeMutablePointer<Float>, worker: Int) {
    let k = w.cols
    let tile = TileScratch.shared.buffer(worker, count: halfTileRows * k)
    var t0 = 0
    while t0 < cols {
        let tr = min(halfTileRows, cols - t0)
        let raw = UnsafeRawBufferPointer(start: w.data + (j0 + t0) * k * 2, count: tr * k * 2)
        widen(raw, dtype: w.dtype, into: tile, count: tr * k)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(tr), Int32(k),
                    1, x, Int32(k), tile, Int32(k), 0, y + j0 + t0, Int32(w.rows))
        t0 += tr
    }
}

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
