import ArgumentParser
import PARVideo

/// `par-video actions`: the class ids and names `--action` accepts.
struct ActionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "actions",
        abstract: "List the action classes (UCF-101, 0-based ids in classInd order) that --action accepts."
    )

    func run() throws {
        let catalog = ActionCatalog.ucf101
        let width = String(catalog.count - 1).count
        for (id, name) in catalog.names.enumerated() {
            let idText = String(id)
            print(String(repeating: " ", count: width - idText.count) + idText + "  " + name)
        }
    }
}
