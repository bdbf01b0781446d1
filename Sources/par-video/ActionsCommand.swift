import ArgumentParser
import PARVideo

/// `par-video actions [LIST]`: the class ids and names the model accepts.
struct ActionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "actions",
        abstract: "List the model's action classes (0-based ids) that --action and --actions accept.",
        discussion: "With LIST (ids, names and ranges, e.g. 0-4,10,PlayingGuitar) only the classes it selects, in its order."
    )

    @Argument(help: ArgumentHelp("Show only these classes: `all`, or a comma list of ids, names and ranges a-b.", valueName: "LIST"))
    var list: String?

    @OptionGroup(title: "Model") var model: BundleOptions

    func run() throws {
        let (bundle, _) = try model.open()
        let config: GPTConfig
        do { config = try bundle.gpt().config } catch let e as WeightsError { throw RunError(e.description) }
        let selection = config.selection
        let ids = try list.map { try selection.parse($0, option: "actions") } ?? Array(0..<config.numClasses)
        let width = String(config.numClasses - 1).count
        for id in ids {
            let idText = String(id)
            let name = selection.catalog?.names[id] ?? "class\(id)"
            print(String(repeating: " ", count: width - idText.count) + idText + "  " + name)
        }
    }
}
