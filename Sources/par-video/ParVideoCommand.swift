import ArgumentParser
import PARVideo

/// The root command. `par-video --action ... -o ...` runs `generate`, the
/// default subcommand. New subcommands: add the type to `subcommands` (one
/// file per subcommand in this folder).
struct ParVideoCommand: ParsableCommand {
    static let subcommands: [ParsableCommand.Type] = [
        GenerateCommand.self,
        ActionsCommand.self,
        TokensCommand.self,
        InspectCommand.self,
        BenchCommand.self,
        DecodeCommand.self,
        ReconstructCommand.self,
        BenchTokenizerCommand.self,
        BatchCommand.self,
        MergeCommand.self,
        FVDCommand.self,
    ]

    static let configuration = CommandConfiguration(
        commandName: "par-video",
        abstract: "Generate short videos with PAR (parallelized autoregressive generation) on the CPU.",
        discussion: """
            With no subcommand, `generate` runs: par-video --action <id|name> --frames N -o OUT
            (its options: par-video generate --help)

            Model: every command that needs one takes the first bundle found of --model, \(ModelLocator.searchOrder). \
            Defaults that come from the model (size, clip length, --parallel, sampling) are listed by `par-video inspect`.

            Exit codes: 0 success; 1 the run failed (no model, I/O or encoder error); \
            2 invalid command line (unknown option, bad value, unknown action, unwritable output path); \
            130 / 143 interrupted by SIGINT / SIGTERM (partial outputs are removed).
            """,
        version: PARVideo.version,
        subcommands: subcommands,
        defaultSubcommand: GenerateCommand.self
    )
}
