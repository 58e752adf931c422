// BounceAppend: the append request: one recipient's status added to the
// service's logfile (bounce/, defer/ or trace/ QID), and with the
// deleteRecipient flag the recipient marked done in the queue file.
import Glibc
import Util
import Global

enum BounceAppend {
    /// Returns the reply status: 0 appended, -1 not.
    static func handle(_ request: BounceAppendRequest, queue: String, directory: QueueDirectory) -> Int {
        do {
            try DeferLog.append([request.entry], queue: queue, id: request.queueID, directory: directory)
        } catch {
            MailLog.warning("\(request.queueID): append \(queue) logfile: \(error)")
            return -1
        }
        if request.flags.contains(.deleteRecipient) && request.entry.offset > 0 {
            do {
                try QueueFile.markDone(path: directory.path(queue: "active", id: request.queueID),
                                       offset: request.entry.offset)
            } catch {
                MailLog.warning("\(request.queueID): mark recipient done: \(error)")
                return -1
            }
        }
        return 0
    }
}
