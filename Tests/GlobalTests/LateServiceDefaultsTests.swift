// Tests of service-defined parameter defaults read from master.cf only when
// a name that is not built in is looked up (MailConfig.lateServiceDefaults).
import XCTest
@testable import Global

final class LateServiceDefaultsTests: XCTestCase {
    func testReadOnlyForNamesThatAreNotBuiltIn() throws {
        let main = try MainConfigFile.parse("myhostname = mx.example.test\n", path: "main.cf")
        var config = MailConfig(configDirectory: "/nonexistent", main: main)
        var reads = 0
        let master = try MasterConfigFile.parse("slow unix - - n - - smtp\n", path: "master.cf")
        config.lateServiceDefaults = LateServiceDefaults {
            reads += 1
            return ServiceParameters.defaults(for: master.entries)
        }
        XCTAssertEqual(config.value("myhostname"), "mx.example.test")
        XCTAssertEqual(config.value("default_destination_concurrency_limit"), "20")
        XCTAssertEqual(config.value("virtual_maps"), "", "an unknown name of another form")
        XCTAssertEqual(reads, 0, "built-in names and names of other forms never need master.cf")
        XCTAssertEqual(config.value("slow_destination_concurrency_limit"), "20")
        XCTAssertEqual(config.value("slow_initial_destination_concurrency"), "5")
        XCTAssertEqual(config.value("nosuchservice_destination_concurrency_limit"), "")
        XCTAssertTrue(ServiceParameters.mayBeServiceDefined("slow_time_limit"))
        XCTAssertFalse(ServiceParameters.mayBeServiceDefined("_destination_rate_delay"))
        XCTAssertEqual(reads, 1, "read once, then kept")
    }
}
