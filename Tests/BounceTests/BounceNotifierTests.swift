// BounceNotifierTests: who gets which notice (sender, postmaster copies per
// notify_classes, 2bounce, discarded postmaster notices), NOTIFY and RET,
// bounce_size_limit, and what becomes of the logfile, with a fake cleanup.
import XCTest
import Glibc
@testable import Global
@testable import bounce

final class FakeSubmitter: NoticeSubmitter {
    struct Notice { var sender: String; var recipient: String; var text: String }
    var notices: [Notice] = []
    var fail = false

    func submit(sender: String, recipient: String, build: (String) -> [[UInt8]]) throws(CleanupClientError) -> String {
        if fail { throw .unavailable("cleanup: test failure") }
        let id = "NEW\(notices.count)"
        notices.append(Notice(sender: sender, recipient: recipient,
                              text: build(id).map { String(decoding: $0, as: UTF8.self) + "\n" }.joined()))
        return id
    }
}

final class BounceNotifierTests: XCTestCase {
    var root = ""
    var settings = BounceSettings()
    let fake = FakeSubmitter()

    override func setUp() {
        var template = Array("/tmp/bounce-tests-XXXXXX".utf8CString)
        root = String(cString: mkdtemp(&template)!)
        for q in ["active", "bounce", "defer", "trace"] { mkdir(root + "/" + q, 0o700) }
        settings.directory = QueueDirectory(path: root, hashedQueues: [])
        settings.myhostname = "mta.example.test"
        settings.myorigin = "example.test"
        settings.bounceNoticeRecipient = "bnr@example.test"
        settings.doubleBounceNoticeRecipient = "twob@example.test"
        settings.delayNoticeRecipient = "dnr@example.test"
        fake.notices = []
        fake.fail = false
        let message = "From: a@example.test\nSubject: hi\n\n" + String(repeating: "body\n", count: 20)
        var m = QueueMessage()
        m.sender = "a@example.test"
        m.recipients = [QueueRecipient(address: "x@example.net")]
        let lines = message.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { Array($0.utf8) }
        let written = try! QueueFile.write(m, lines: lines, directory: settings.directory, queue: "active")
        queueID = written.id
    }

    var queueID = ""

    override func tearDown() {
        _ = try? FileManagerless.removeTree(root)
    }

    func log(_ queue: String, _ entries: [DeferLogEntry]) {
        try! DeferLog.append(entries, queue: queue, id: queueID, directory: settings.directory)
    }

    func entry(_ rcpt: String, notify: Int = 0, status: String = "5.1.1", action: String = "failed") -> DeferLogEntry {
        DeferLogEntry(recipient: rcpt, offset: 1, notifyFlags: notify, status: status, action: action, reason: "no")
    }

    func run(_ command: BounceProtocol.Command, sender: String = "a@example.test", ret: Int = 0, service: String = "bounce") -> Int {
        let request = BounceNotifyRequest(command: command, queueName: "active", queueID: queueID, sender: sender,
                                          returnFlags: ret)
        return BounceNotifier(settings: settings, config: nil, submitter: fake).handle(request, service: service)
    }

    var logExists: Bool { access(settings.directory.path(queue: "bounce", id: queueID), F_OK) == 0 }

    func testSenderNoticeAndPostmasterCopy() {
        settings.notifyClasses = [.bounce]
        log("bounce", [entry("x@example.net"), entry("never@example.net", notify: BounceProtocol.Notify.never)])
        XCTAssertEqual(run(.flush), 0)
        XCTAssertEqual(fake.notices.map(\.recipient), ["a@example.test", "bnr@example.test"])
        XCTAssertEqual(fake.notices.map(\.sender), ["", "double-bounce@example.test"])
        // NOTIFY=NEVER hides a recipient from the sender, not from postmaster.
        XCTAssertFalse(fake.notices[0].text.contains("never@example.net"))
        XCTAssertTrue(fake.notices[1].text.contains("never@example.net"))
        XCTAssertTrue(fake.notices[0].text.contains("Content-Type: message/rfc822\n"))
        XCTAssertTrue(fake.notices[1].text.contains("Content-Type: text/rfc822-headers\n"))
        XCTAssertFalse(logExists)
    }

    func testNotifyNeverOnlySendsNothing() {
        log("bounce", [entry("x@example.net", notify: BounceProtocol.Notify.never)])
        XCTAssertEqual(run(.flush), 0)
        XCTAssertTrue(fake.notices.isEmpty)
        XCTAssertFalse(logExists)
    }

    func testRetHeadersAndSizeLimit() {
        log("bounce", [entry("x@example.net")])
        XCTAssertEqual(run(.flush, ret: BounceProtocol.Return.headers), 0)
        XCTAssertTrue(fake.notices[0].text.contains("Content-Description: Undelivered Message Headers\n"))
        settings.bounceSizeLimit = 50
        log("bounce", [entry("x@example.net")])
        XCTAssertEqual(run(.flush), 0)
        XCTAssertTrue(fake.notices[1].text.contains("Content-Type: text/rfc822-headers\n"))
    }

    func testDoubleBounce() {
        log("bounce", [entry("x@example.net")])
        XCTAssertEqual(run(.flush, sender: ""), 0)
        XCTAssertTrue(fake.notices.isEmpty, "default notify_classes: double bounces are dropped")
        settings.notifyClasses = [.doubleBounce]
        log("bounce", [entry("x@example.net")])
        XCTAssertEqual(run(.flush, sender: ""), 0)
        XCTAssertEqual(fake.notices.map(\.recipient), ["twob@example.test"])
        XCTAssertEqual(fake.notices[0].sender, "double-bounce@example.test")
        XCTAssertTrue(fake.notices[0].text.contains("Content-Type: message/rfc822\n"))
        XCTAssertTrue(fake.notices[0].text.contains("Subject: Postmaster Copy: Undelivered Mail\n"))
    }

    func testPostmasterNoticeIsNeverBounced() {
        settings.notifyClasses = [.bounce, .doubleBounce]
        log("bounce", [entry("x@example.net")])
        XCTAssertEqual(run(.flush, sender: "double-bounce@example.test"), 0)
        XCTAssertTrue(fake.notices.isEmpty)
        XCTAssertFalse(logExists)
    }

    func testCleanupFailureKeepsTheLog() {
        fake.fail = true
        log("bounce", [entry("x@example.net")])
        XCTAssertEqual(run(.flush), -1)
        XCTAssertTrue(logExists)
    }

    func testDelayWarningKeepsTheDeferLog() {
        settings.notifyClasses = [.delay]
        log("defer", [entry("slow@example.net", status: "4.3.0", action: "delayed"),
                      entry("nodelay@example.net", notify: BounceProtocol.Notify.failure, status: "4.3.0", action: "delayed")])
        XCTAssertEqual(run(.warn, service: "defer"), 0)
        XCTAssertEqual(fake.notices.map(\.recipient), ["a@example.test", "dnr@example.test"])
        XCTAssertTrue(fake.notices[0].text.contains("Subject: Delayed Mail (still being retried)\n"))
        XCTAssertTrue(fake.notices[0].text.contains("Action: delayed\n"))
        XCTAssertFalse(fake.notices[0].text.contains("nodelay@example.net"))
        XCTAssertTrue(fake.notices[0].text.contains("Content-Type: text/rfc822-headers\n"))
        XCTAssertEqual(access(settings.directory.path(queue: "defer", id: queueID), F_OK), 0)
    }

    func testDeferLogFlushReportsFailures() {
        log("defer", [entry("slow@example.net", status: "4.4.1", action: "delayed")])
        XCTAssertEqual(run(.flush, service: "defer"), 0)
        XCTAssertTrue(fake.notices[0].text.contains("Action: failed\nStatus: 4.4.1\n"))
    }

    func testSuccessNotice() {
        log("trace", [entry("ok@example.net", notify: BounceProtocol.Notify.success, status: "2.0.0", action: "delivered")])
        XCTAssertEqual(run(.trace, service: "trace"), 0)
        XCTAssertEqual(fake.notices.count, 1)
        XCTAssertTrue(fake.notices[0].text.contains("Subject: Successful Mail Delivery Report\n"))
        XCTAssertTrue(fake.notices[0].text.contains("Action: delivered\nStatus: 2.0.0\n"))
        XCTAssertEqual(access(settings.directory.path(queue: "trace", id: queueID), F_OK), -1)
    }

    func testServiceRejectsGarbage() {
        let service = BounceService(settings: settings, config: nil, service: "bounce", submitter: fake)
        XCTAssertEqual(service.handle(AttributeList([("nrequest", "banana")])), -1)
        XCTAssertEqual(service.handle(AttributeList()), -1)
        XCTAssertEqual(service.handle(AttributeList([("nrequest", "1"), ("queue_id", "X")])), -1)
        // An append goes to the service's logfile.
        let append = BounceAppendRequest(queueID: queueID, entry: entry("x@example.net"))
        XCTAssertEqual(service.handle(append.encoded()), 0)
        XCTAssertTrue(logExists)
        XCTAssertTrue(fake.notices.isEmpty)
    }
}

/// Recursive removal without Foundation.
enum FileManagerless {
    static func removeTree(_ path: String) throws {
        guard let dir = opendir(path) else { unlink(path); return }
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            let child = path + "/" + name
            var st = stat()
            if lstat(child, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { try removeTree(child) } else { unlink(child) }
        }
        closedir(dir)
        rmdir(path)
    }
}
