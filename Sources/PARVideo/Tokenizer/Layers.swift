import Foundation

/// Where tokenizer weights come from: a bundle file, or seeded random weights.
public protocol TokenizerWeights {
    /// fp32 values of tensor `name`, which must have `shape` (PyTorch layout).
    func tensor(_ name: String, shape: [Int]) throws -> [Float]
    /// All tensor names present (to reject tensors the config does not explain).
    var tensorNames: [String] { get }
    /// How the tensor is stored: BF16 kernels run through the bf16 kernel.
    func storedDType(_ name: String) -> DType
}

extension SafeTensorsFile: TokenizerWeights {
    public func tensor(_ name: String, shape: [Int]) throws -> [Float] { try floats(name, shape: shape) }
    public var tensorNames: [String] { names }
    public func storedDType(_ name: String) -> DType { tensors[name]?.dtype ?? .f32 }
}

/// NBP's ResidualUnit: GN -> Swish -> conv -> GN -> Swish -> conv, plus the
/// input (or a 1x1x1 conv of it when the channel count changes).
final class ResidualUnit {
    let norm1, norm2: GroupNormSwish
    let conv1, conv2: CausalConv3D
    let shortcut: CausalConv3D?

    init(norm1: GroupNormSwish, conv1: CausalConv3D, norm2: GroupNormSwish, conv2: CausalConv3D, shortcut: CausalConv3D?) {
        self.norm1 = norm1; self.conv1 = conv1; self.norm2 = norm2; self.conv2 = conv2; self.shortcut = shortcut
    }

    func callAsFunction(_ x: Activation, streaming: Bool) -> Activation {
        var h = conv1(LayerTimer.time(.norm) { norm1(x) }, streaming: streaming)
        h = LayerTimer.time(.norm) { norm2(h) }
        let skip = shortcut.map { $0(x) } ?? x
        return conv2(h, streaming: streaming, residual: skip)
    }
}

/// NBP's Depth2Space3D: channels split as (ft, fh, fw, c_out), factors
/// outermost; the first ft-1 output frames of the clip are dropped (the first
/// latent frame is not up-sampled in time).
final class DepthToSpace {
    let ft, fh, fw: Int
    private var started = false

    init(_ f: [Int]) { (ft, fh, fw) = (f[0], f[1], f[2]) }

    func reset() { started = false }

    func callAsFunction(_ x: Activation) -> Activation {
        let co = x.channels / (ft * fh * fw)
        let drop = started ? 0 : ft - 1
        started = true
        let out = Activation(frames: x.frames * ft - drop, height: x.height * fh, width: x.width * fw, channels: co)
        let (h, w, c) = (x.height, x.width, x.channels)
        let (ft, fh, fw) = (ft, fh, fw)
        parallelFor(x.frames * ft) { range in
            for of in range where of >= drop {
                let t = of / ft, a = of % ft
                let dstFrame = out.frame(of - drop)
                for y in 0..<h {
                    for b in 0..<fh {
                        var dst = dstFrame + ((y * fh + b) * w * fw) * co
                        for xx in 0..<w {
                            let src = x.frame(t) + (y * w + xx) * c
                            for cc in 0..<fw {
                                memcpy(dst, src + ((a * fh + b) * fw + cc) * co, co * 4)
                                dst += co
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// One entry of NBP's `encoder_layers` / `decoder_layers` ModuleList; a GroupNorm
/// and the Swish after it are one entry here.
enum TokenizerLayer {
    case conv(CausalConv3D)
    case residual(ResidualUnit)
    case normSwish(GroupNormSwish)
    case depthToSpace(DepthToSpace)

    func run(_ x: Activation, streaming: Bool) -> Activation {
        switch self {
        case .conv(let c): return c(x, streaming: streaming)
        case .residual(let r): return r(x, streaming: streaming)
        case .normSwish(let n): return LayerTimer.time(.norm) { n(x) }
        case .depthToSpace(let d): return LayerTimer.time(.copy) { d(x) }
        }
    }

    func reset() {
        switch self {
        case .conv(let c): c.reset()
        case .residual(let r): r.conv1.reset(); r.conv2.reset()
        case .normSwish: break
        case .depthToSpace(let d): d.reset()
        }
    }
}

/// Builds the layer list of one side from the config, reading NBP's tensor names.
struct LayerBuilder {
    let config: TokenizerConfig
    let weights: TokenizerWeights
    var used = Set<String>()
    var allowBF16 = true

    init(config: TokenizerConfig, weights: TokenizerWeights) { self.config = config; self.weights = weights }

    private mutating func get(_ name: String, _ shape: [Int]) throws -> [Float] {
        used.insert(name)
        return try weights.tensor(name, shape: shape)
    }

    private mutating func conv(_ p: String, _ cin: Int, _ cout: Int, k: Int, stride: [Int] = [1, 1, 1]) throws -> CausalConv3D {
        CausalConv3D(cin: cin, cout: cout, kernel: (k, k, k), stride: (stride[0], stride[1], stride[2]),
                     w: try get(p + ".weight", [cout, cin, k, k, k]), bias: try get(p + ".bias", [cout]),
                     bf16: allowBF16 && weights.storedDType(p + ".weight") == .bf16)
    }

    private mutating func normSwish(norm: String, swish: String, _ c: Int) throws -> GroupNormSwish {
        GroupNormSwish(channels: c, groups: config.normGroups, eps: config.normEps,
                       gamma: try get(norm + ".weight", [c]), shift: try get(norm + ".bias", [c]),
                       beta: try get(swish + ".beta", [1, c, 1, 1, 1]))
    }

    private mutating func residual(_ p: String, _ cin: Int, _ cout: Int) throws -> TokenizerLayer {
        let k = config.kernel
        return .residual(ResidualUnit(
            norm1: try normSwish(norm: p + ".fn.0", swish: p + ".fn.1", cin),
            conv1: try conv(p + ".fn.2.conv", cin, cout, k: k),
            norm2: try normSwish(norm: p + ".fn.3", swish: p + ".fn.4", cout),
            conv2: try conv(p + ".fn.5.conv", cout, cout, k: k),
            shortcut: cin == cout ? nil : try conv(p + ".residual_fn.0.conv", cin, cout, k: 1)))
    }

    /// NBP `decoder_layers`: conv, units, [conv to C*f, depth-to-space, units]..., GN, Swish, conv.
    mutating func decoder() throws -> [TokenizerLayer] {
        let d = config.decoder, ch = d.channels, k = config.kernel
        var i = 0, layers: [TokenizerLayer] = []
        func name() -> String { "decoder_layers.\(i)" }
        layers.append(.conv(try conv(name() + ".conv", config.embedDim, ch[0], k: k))); i += 1
        for _ in 0..<d.resUnits[0] { layers.append(try residual(name(), ch[0], ch[0])); i += 1 }
        for s in 1..<ch.count {
            let f = d.factors[s - 1]
            layers.append(.conv(try conv(name() + ".conv", ch[s - 1], ch[s - 1] * f[0] * f[1] * f[2], k: k))); i += 1
            layers.append(.depthToSpace(DepthToSpace(f))); i += 1
            for u in 0..<d.resUnits[s] { layers.append(try residual(name(), u == 0 ? ch[s - 1] : ch[s], ch[s])); i += 1 }
        }
        layers.append(.normSwish(try normSwish(norm: name(), swish: "decoder_layers.\(i + 1)", ch.last!))); i += 2
        layers.append(.conv(try conv(name() + ".conv", ch.last!, config.inChannels, k: k)))
        return layers
    }

    /// NBP `encoder_layers`: conv, units, [strided conv, units]..., GN, Swish, 1x1x1 conv.
    mutating func encoder() throws -> [TokenizerLayer] {
        let e = config.encoder, ch = e.channels, k = config.kernel
        var i = 0, layers: [TokenizerLayer] = []
        func name() -> String { "encoder_layers.\(i)" }
        layers.append(.conv(try conv(name() + ".conv", config.inChannels, ch[0], k: k))); i += 1
        for _ in 0..<e.resUnits[0] { layers.append(try residual(name(), ch[0], ch[0])); i += 1 }
        for s in 1..<ch.count {
            layers.append(.conv(try conv(name() + ".conv", ch[s - 1], ch[s - 1], k: k, stride: e.factors[s - 1]))); i += 1
            for u in 0..<e.resUnits[s] { layers.append(try residual(name(), u == 0 ? ch[s - 1] : ch[s], ch[s])); i += 1 }
        }
        layers.append(.normSwish(try normSwish(norm: name(), swish: "encoder_layers.\(i + 1)", ch.last!))); i += 2
        layers.append(.conv(try conv(name(), ch.last!, config.embedDim, k: 1)))  // plain nn.Conv3d: no `.conv`
        return layers
    }
}
