import ADCore
import Testing

@Suite struct OutboundPolicyRefusesInwardAddresses {
    let none = OutboundPolicy()

    @Test(arguments: [
        "127.0.0.1", "127.255.0.9", "0.0.0.0", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
        "169.254.169.254", "169.254.0.1", "100.64.0.1", "100.127.255.254", "224.0.0.1", "239.1.1.1",
        "255.255.255.255", "240.0.0.1", "192.0.0.192", "198.18.0.1", "::1", "::", "fe80::1", "febf::1", "fc00::1",
        "fd12:3456::1", "ff02::1", "fec0::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",
        "::127.0.0.1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::", "2002:a9fe:a9fe::1", "100::1",
    ])
    func inward(_ text: String) throws {
        let address = try #require(IPAddress(text), "\(text) parses")
        let why = none.refusal(host: text, address: address)
        #expect(why != nil, "\(text) is refused")
        #expect(why?.contains("refused by the outbound policy") == true)
        #expect(why?.contains("ad_internal.outbound_allowlist") == true, "the refusal says how the owner allows it")
    }

    @Test(arguments: [
        "93.184.216.34", "8.8.8.8", "1.1.1.1", "172.32.0.1", "172.15.255.255", "100.63.255.255", "100.128.0.1",
        "2606:4700:4700::1111", "2001:db8::1", "::ffff:8.8.8.8", "2002:0808:0808::1", "64:ff9b::808:808",
    ])
    func publicAddressesPass(_ text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(none.refusal(host: text, address: address) == nil, "\(text) is allowed")
    }

    @Test func theMetadataServiceIsNamedAsSuch() throws {
        let why = none.refusal(host: "169.254.169.254", address: try #require(IPAddress("169.254.169.254")))
        #expect(why?.contains("cloud metadata") == true, "\(why ?? "")")
    }

    @Test(arguments: ["2130706433", "0177.0.0.1", "0x7f.1", "127.1", "1.2.3", "01.2.3.4", "256.1.1.1", "1::2::3"])
    func lenientFormsAreNotLiteralsButNames(_ text: String) {
        // A resolver turns 2130706433 into 127.0.0.1; the policy checks what it resolved to, never the spelling.
        #expect(IPAddress(text) == nil, "\(text) is not a strict literal")
    }

    @Test func aResolvedLenientFormIsCheckedByItsAddress() throws {
        let resolved = try #require(IPAddress("127.0.0.1"))
        let why = none.refusal(host: "2130706433", address: resolved)
        #expect(why?.hasPrefix("destination 2130706433 (127.0.0.1) is loopback") == true, "\(why ?? "")")
    }

    @Test func theOwnersAllowlistAllowsNetworksAndHosts() throws {
        let (policy, problems) = OutboundPolicy.fromAllowlist([
            (host: nil, network: "127.0.0.0/8"), (host: "Hooks.Internal.", network: nil),
            (host: nil, network: "fd00::/8"), (host: nil, network: "not a network"),
        ])
        #expect(problems == ["network \"not a network\""])
        #expect(policy.refusal(host: "localhost", address: try #require(IPAddress("127.0.0.1"))) == nil)
        #expect(policy.refusal(host: "x", address: try #require(IPAddress("::ffff:127.0.0.1"))) == nil)
        #expect(policy.refusal(host: "hooks.internal", address: try #require(IPAddress("10.9.9.9"))) == nil)
        #expect(policy.refusal(host: "x", address: try #require(IPAddress("fd00::5"))) == nil)
        #expect(policy.refusal(host: "x", address: try #require(IPAddress("::1"))) != nil, "::1 is not 127/8")
        #expect(policy.refusal(host: "x", address: try #require(IPAddress("10.9.9.9"))) != nil)
        #expect(policy.refusal(host: "x", address: try #require(IPAddress("169.254.169.254"))) != nil)
    }

    @Test func theFirstAllowedAddressIsChosenAndNothingIsWhenAllAreRefused() throws {
        let a = try #require(IPAddress("169.254.169.254")), b = try #require(IPAddress("93.184.216.34"))
        #expect(none.choose(host: "h", addresses: [a, b]) == .success(b))
        guard case .failure(let refused) = none.choose(host: "h", addresses: [a]) else {
            Issue.record("a lone inward address was chosen")
            return
        }
        #expect(refused.reason.contains("169.254.169.254"))
        #expect(none.choose(host: "h", addresses: []) != .success(b))
    }

    @Test func addressesPrintInTheirCanonicalForm() throws {
        #expect(try #require(IPAddress("::ffff:127.0.0.1")).description == "::ffff:7f00:1")
        #expect(try #require(IPAddress("[fe80::1]")).description == "fe80::1")
        #expect(try #require(IPAddress("2001:db8:0:0:1:0:0:1")).description == "2001:db8::1:0:0:1")
        #expect(try #require(IPAddress("10.0.0.1")).hostNetwork == "10.0.0.1/32")
        #expect(IPNetwork("10.0.0.0/33") == nil)
        #expect(IPNetwork("::/0")?.contains(try #require(IPAddress("::1"))) == true)
    }
}
