import ArgumentParser
import PARVideo

/// Engine subcommands; the root command of the CLI branch takes them over.
struct EngineCommands: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "par-video",
        abstract: "PAR video generation on the CPU.",
        version: PARVideo.version,
        subcommands: [TokensCommand.self, InspectCommand.self, BenchCommand.self])
}

EngineCommands.main()
