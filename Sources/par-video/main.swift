import PARVideo

// Until the root command lands (foundation): `par-video bench-tokenizer ...`.
if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "bench-tokenizer" {
    BenchTokenizerCommand.main(Array(CommandLine.arguments.dropFirst(2)))
} else {
    print("par-video \(PARVideo.version)")
}
