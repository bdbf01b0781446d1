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
/// every call (`par-video bench --kernels` compares them), and they form every
/// (row, output) sum in one fixed order, so clip i of a batch of B is the clip
/// decoded alone, whatever B. sgemm remains as `matmulBLAS`.
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

/// The fixed output chunks for `outputs` columns, independent of the thread
/// count (a chunk never splits a sum, so the chunking does not change a result).
/// Past 12 input rows the product is compute bound and a chunk takes
/// milliseconds: 16 smaller chunks shorten the wait at the end of each product.
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
    withProductInputs(x, rows: rows, w) { x in
        Parallel.forEach(chunks) { c, worker in
            let j0 = c * size
            productChunk(x, rows: rows, w, j0: j0, cols: min(size, w.rows - j0), y, worker: worker)
        }
    }
}

/// bf16 weights multiply bf16 inputs: x is rounded to bf16 (nearest even) once per
/// product, as PyTorch's bf16 modules and the tokenizer's bf16 convolutions do, and
/// the sums stay fp32. On AVX512_BF16 the rounded rows feed vdpbf16ps (at 8 to 32
/// rows the widening kernel is compute bound); elsewhere they are widened back to
/// fp32 for the widening kernels: the same products, summed in another order.
nonisolated(unsafe) var useBF16DotKernels = ck_has_avx512_bf16() != 0

/// The inputs of one product against `w`: `x` itself, or for bf16 weights its rows rounded to bf16.
struct ProductInputs {
    let f32: UnsafePointer<Float>
    let bf16: UnsafePointer<UInt16>?
}

@inline(__always)
func withProductInputs<R>(_ x: UnsafePointer<Float>, rows: Int, _ w: WeightMatrix, dot: Bool = true,
                          _ body: (ProductInputs) -> R) -> R {
    guard w.dtype == .bf16 else { return body(ProductInputs(f32: x, bf16: nil)) }
    let n = rows * w.cols
    return withUnsafeTemporaryAllocation(of: UInt16.self, capacity: n) { xb in
        tk_f32_to_bf16(n, x, xb.baseAddress!)
        if dot && useAVX512DecodeKernels && useBF16DotKernels && w.cols % 2 == 0 {
            return body(ProductInputs(f32: x, bf16: UnsafePointer(xb.baseAddress!)))
        }
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: n) { xr in
            widen(UnsafeRawBufferPointer(xb), dtype: .bf16, into: xr.baseAddress!, count: n)
            return body(ProductInputs(f32: UnsafePointer(xr.baseAddress!), bf16: nil))
        }
    }
}

/// The same product through OpenBLAS sgemm (F16/BF16 widened into fp32 tiles; bf16
/// weights multiply bf16-rounded inputs here too):
/// the roofline's sgemm ceiling, and a second path for the tests.
public func matmulBLAS(_ x: UnsafePointer<Float>, rows: Int, _ w: WeightMatrix, _ y: UnsafeMutablePointer<Float>) {
    let (chunks, size) = outputChunks(w.rows)
    withProductInputs(x, rows: rows, w, dot: false) { x in
        Parallel.forEach(chunks) { c, worker in
            let j0 = c * size
            blasChunk(x.f32, rows: rows, w, j0: j0, cols: min(size, w.rows - j0), y, worker: worker)
        }
    }
}

/// SwiGLU's hidden layer: a = silu(x W1^T) * (x W3^T), b = x W3^T (scratch). Each
/// output chunk computes both products for its columns and gates them at once, so
/// the step waits for the threads once instead of three times. Same sums and the
/// same element-wise gate as `matmul` twice then `siluMul`, bit for bit.
public func matmulSwiGLU(_ x: UnsafePointer<Float>, rows: Int, _ w1: WeightMatrix, _ w3: WeightMatrix,
                         _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>) {
    precondition(w1.rows == w3.rows && w1.cols == w3.cols)
    precondition(w1.dtype == w3.dtype)
    let (chunks, size) = outputChunks(w1.rows, rows: rows)
    withProductInputs(x, rows: rows, w1) { x in
        Parallel.forEach(chunks) { c, worker in
            let j0 = c * size, cols = min(size, w1.rows - j0)
            productChunk(x, rows: rows, w1, j0: j0, cols: cols, a, worker: worker)
            productChunk(x, rows: rows, w3, j0: j0, cols: cols, b, worker: worker)
            for r in 0..<rows { siluMul(a + r * w1.rows + j0, b + r * w1.rows + j0, count: cols) }
        }
    }
}

/// y[r, j] for j0 <= j < j0 + cols: the C kernel on AVX-512, Swift SIMD elsewhere.
@inline(__always)
func productChunk(_ inputs: ProductInputs, rows: Int, _ w: WeightMatrix, j0: Int, cols: Int,
                  _ y: UnsafeMutablePointer<Float>, worker: Int) {
    let k = w.cols, x = inputs.f32
    if let xb = inputs.bf16 {
        pk_fewrows_bf16dot(Int32(rows), Int32(k), xb, w.data.assumingMemoryBound(to: UInt16.self), Int32(j0), Int32(cols), y, w.rows)
        return
    }
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
