import Foundation

/// One step of LlamaGen's VQ encoder or decoder, in the order it runs, with
/// the prefix of its tensors in the official state dict.
struct VQStep: Equatable {
    enum Kind: Equatable { case conv1, conv3, res, attn, normSwish, up, down }
    let kind: Kind
    let prefix: String
    let cin, cout: Int
}

extension VQConfig {
    /// Encoder.forward, then quant_conv.
    var encoderPlan: [VQStep] {
        let mult = encoderChMult, last = mult.count - 1
        var plan = [VQStep(kind: .conv3, prefix: "encoder.conv_in", cin: inChannels, cout: channels)]
        var blockIn = channels
        for (i, m) in mult.enumerated() {
            for j in 0..<numResBlocks {
                plan.append(VQStep(kind: .res, prefix: "encoder.conv_blocks.\(i).res.\(j).", cin: blockIn, cout: channels * m))
                blockIn = channels * m
                if i == last { plan.append(VQStep(kind: .attn, prefix: "encoder.conv_blocks.\(i).attn.\(j).", cin: blockIn, cout: blockIn)) }
            }
            if i != last { plan.append(VQStep(kind: .down, prefix: "encoder.conv_blocks.\(i).downsample.conv", cin: blockIn, cout: blockIn)) }
        }
        return plan + midPlan("encoder", blockIn) + [
            VQStep(kind: .normSwish, prefix: "encoder.norm_out", cin: blockIn, cout: blockIn),
            VQStep(kind: .conv3, prefix: "encoder.conv_out", cin: blockIn, cout: zChannels),
            VQStep(kind: .conv1, prefix: "quant_conv", cin: zChannels, cout: codebookEmbedDim),
        ]
    }

    /// post_quant_conv, then Decoder.forward.
    var decoderPlan: [VQStep] {
        let mult = decoderChMult, levels = mult.count
        var blockIn = channels * mult[levels - 1]
        var plan = [VQStep(kind: .conv1, prefix: "post_quant_conv", cin: codebookEmbedDim, cout: zChannels),
                    VQStep(kind: .conv3, prefix: "decoder.conv_in", cin: zChannels, cout: blockIn)]
        plan += midPlan("decoder", blockIn)
        for (j, level) in (0..<levels).reversed().enumerated() {
            for r in 0...numResBlocks {
                plan.append(VQStep(kind: .res, prefix: "decoder.conv_blocks.\(j).res.\(r).", cin: blockIn, cout: channels * mult[level]))
                blockIn = channels * mult[level]
                if level == levels - 1 { plan.append(VQStep(kind: .attn, prefix: "decoder.conv_blocks.\(j).attn.\(r).", cin: blockIn, cout: blockIn)) }
            }
            if level != 0 { plan.append(VQStep(kind: .up, prefix: "decoder.conv_blocks.\(j).upsample.conv", cin: blockIn, cout: blockIn)) }
        }
        return plan + [VQStep(kind: .normSwish, prefix: "decoder.norm_out", cin: blockIn, cout: blockIn),
                       VQStep(kind: .conv3, prefix: "decoder.conv_out", cin: blockIn, cout: inChannels)]
    }

    private func midPlan(_ side: String, _ c: Int) -> [VQStep] {
        [VQStep(kind: .res, prefix: "\(side).mid.0.", cin: c, cout: c), VQStep(kind: .attn, prefix: "\(side).mid.1.", cin: c, cout: c),
         VQStep(kind: .res, prefix: "\(side).mid.2.", cin: c, cout: c)]
    }

    /// Official state-dict name -> shape of every tensor the config implies.
    func weightShapes(encoder: Bool = true) -> [(name: String, shape: [Int])] {
        var out: [(name: String, shape: [Int])] = [("quantize.embedding.weight", [codebookSize, codebookEmbedDim])]
        func conv(_ p: String, _ cout: Int, _ cin: Int, _ k: Int) { out += [(p + ".weight", [cout, cin, k, k]), (p + ".bias", [cout])] }
        func norm(_ p: String, _ c: Int) { out += [(p + ".weight", [c]), (p + ".bias", [c])] }
        for s in decoderPlan + (encoder ? encoderPlan : []) {
            switch s.kind {
            case .res:
                norm(s.prefix + "norm1", s.cin); conv(s.prefix + "conv1", s.cout, s.cin, 3)
                norm(s.prefix + "norm2", s.cout); conv(s.prefix + "conv2", s.cout, s.cout, 3)
                if s.cin != s.cout { conv(s.prefix + "nin_shortcut", s.cout, s.cin, 1) }
            case .attn:
                norm(s.prefix + "norm", s.cin)
                for n in ["q", "k", "v", "proj_out"] { conv(s.prefix + n, s.cin, s.cin, 1) }
            case .normSwish: norm(s.prefix, s.cin)
            case .conv1: conv(s.prefix, s.cout, s.cin, 1)
            case .conv3, .up, .down: conv(s.prefix, s.cout, s.cin, 3)
            }
        }
        return out
    }

    /// Every tensor of a vq2d bundle file present with its shape and nothing
    /// else there: the header check that loading a bundle runs (no data read).
    public func checkTensors(_ file: SafeTensorsFile) throws {
        let shapes = weightShapes()
        for (name, shape) in shapes {
            guard let info = file.tensors[name] else {
                throw WeightsError("\(file.path): missing tensor '\(name)' (expected shape \(shape)): file and vq2d config disagree", badInput: true)
            }
            guard info.shape == shape else {
                let what = name == "quantize.embedding.weight" ? "codebook" : "tensor '\(name)'"
                throw WeightsError("\(file.path): \(what) has shape \(info.shape), the vq2d config needs \(shape)", badInput: true)
            }
            guard [.f32, .f16, .bf16].contains(info.dtype) else {
                throw WeightsError("\(file.path): tensor '\(name)' is \(info.dtype.rawValue), expected F32, F16 or BF16")
            }
        }
        let known = Set(shapes.map(\.name))
        let extra = file.tensors.keys.filter { !known.contains($0) }.sorted()
        if let first = extra.first {
            throw WeightsError("\(file.path): tensor '\(first)' is not part of the configured vq2d tokenizer"
                               + (extra.count > 1 ? " (and \(extra.count - 1) more)" : ""))
        }
    }
}
