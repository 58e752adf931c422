// BounceService: decodes one request list and hands it to BounceAppend or
// BounceNotifier. A malformed request is a warning and status -1.
import Util
import Global

struct BounceService {
    let settings: BounceSettings
    let config: MailConfig?
    let service: String
    var submitter: NoticeSubmitter?

    init(settings: BounceSettings, config: MailConfig?, service: String, submitter: NoticeSubmitter? = nil) {
        self.settings = settings
        self.config = config
        self.service = service
        self.submitter = submitter
    }

    func handle(_ list: AttributeList) -> Int {
        guard let code = list.int(BounceProtocol.Attribute.request), let command = BounceProtocol.Command(rawValue: code) else {
            MailLog.warning("\(service): unknown request: \"\(list[BounceProtocol.Attribute.request] ?? "")\"")
            return -1
        }
        let notifier = BounceNotifier(settings: settings, config: config,
                                      submitter: submitter ?? CleanupSubmitter(socketPath: settings.cleanupService,
                                                                               timeout: settings.ipcTimeout))
        do {
            switch command {
            case .append:
                let request = try BounceAppendRequest.decode(list)
                return BounceAppend.handle(request, queue: BounceNotifier.logQueue(service: service, command: .flush),
                                           directory: settings.directory)
            case .one:
                let request = try BounceNotifyRequest.decode(list)
                return notifier.handle(request, service: service, one: try BounceAppendRequest.entry(from: list))
            case .flush, .warn, .trace, .verp:
                return notifier.handle(try BounceNotifyRequest.decode(list), service: service)
            }
        } catch {
            MailLog.warning("\(service): malformed request: \(error)")
            return -1
        }
    }
}
