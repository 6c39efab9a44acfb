import { cidrsOverlap, formatCidr, parseCidr, splitCidr } from "../modules/cidr";

describe("parseCidr", () => {
  test("reads the network address and prefix", () => {
    expect(parseCidr("10.1.0.0/16")).toEqual({ network: (10 << 24) + (1 << 16), prefix: 16 });
    expect(formatCidr(parseCidr("192.168.4.0/22"))).toBe("192.168.4.0/22");
    expect(formatCidr(parseCidr("255.255.255.255/32"))).toBe("255.255.255.255/32");
    expect(formatCidr(parseCidr("0.0.0.0/0"))).toBe("0.0.0.0/0");
  });

  test.each([
    ["10.0.0.0", /cidr syntax: vpcCidr must be an IPv4 CIDR like 10\.0\.0\.0\/16 \(given "10\.0\.0\.0"\)/],
    ["10.0.0/16", /cidr syntax: vpcCidr must be an IPv4 CIDR/],
    ["fd00::/8", /cidr syntax: vpcCidr must be an IPv4 CIDR/],
    [" 10.0.0.0/16", /cidr syntax: vpcCidr must be an IPv4 CIDR/],
    ["10.0.256.0/24", /cidr syntax: vpcCidr has an octet above 255 \(given "10\.0\.256\.0\/24"\)/],
    ["10.0.0.0/33", /cidr syntax: vpcCidr prefix must be 0\.\.32 \(given "10\.0\.0\.0\/33"\)/],
    ["10.0.0.1/16", /cidr syntax: vpcCidr has host bits set \(given "10\.0\.0\.1\/16"; the network address is 10\.0\.0\.0\/16\)/],
  ])("refuses %j with a message naming the field and value", (value, message) => {
    expect(() => parseCidr(value, "vpcCidr")).toThrow(message);
  });
});

describe("cidrsOverlap", () => {
  test.each([
    ["10.0.0.0/16", "10.0.0.0/16", true],
    ["10.0.0.0/16", "10.0.128.0/24", true],
    ["10.0.128.0/24", "10.0.0.0/16", true],
    ["10.0.0.0/8", "10.255.255.0/24", true],
    ["10.0.0.0/16", "10.1.0.0/16", false],
    ["10.0.0.0/17", "10.0.128.0/17", false],
    ["172.16.0.0/24", "172.16.1.0/24", false],
  ])("%s and %s overlap: %s", (a, b, expected) => {
    expect(cidrsOverlap(a, b)).toBe(expected);
  });
});

describe("splitCidr", () => {
  test("splits into the smallest power of two of equal subnets that holds the count, in address order", () => {
    expect(splitCidr("10.0.0.0/16", 4)).toEqual(["10.0.0.0/18", "10.0.64.0/18", "10.0.128.0/18", "10.0.192.0/18"]);
    expect(splitCidr("10.0.0.0/16", 6)).toEqual([
      "10.0.0.0/19",
      "10.0.32.0/19",
      "10.0.64.0/19",
      "10.0.96.0/19",
      "10.0.128.0/19",
      "10.0.160.0/19",
    ]);
    expect(splitCidr("192.168.10.0/24", 3)).toEqual(["192.168.10.0/26", "192.168.10.64/26", "192.168.10.128/26"]);
  });

  test("one subnet is the whole block", () => {
    expect(splitCidr("10.20.0.0/20", 1)).toEqual(["10.20.0.0/20"]);
  });

  test("subnets never overlap each other and stay inside the parent", () => {
    const parts = splitCidr("10.9.0.0/21", 5);
    for (let i = 0; i < parts.length; i++) {
      expect(cidrsOverlap(parts[i], "10.9.0.0/21")).toBe(true);
      for (let j = i + 1; j < parts.length; j++) expect(cidrsOverlap(parts[i], parts[j])).toBe(false);
    }
  });

  test("the last subnet of a block at the top of the address space is formatted correctly", () => {
    expect(splitCidr("255.255.255.0/24", 2)).toEqual(["255.255.255.0/25", "255.255.255.128/25"]);
  });

  test("refuses a block too small for the count, naming the field, the block and the sizes", () => {
    expect(() => splitCidr("10.0.0.0/24", 32, 28, "egressVpcCidr")).toThrow(
      /cidr split: egressVpcCidr 10\.0\.0\.0\/24 is too small for 32 subnets \(each would be \/29, smallest allowed is \/28\)/,
    );
    expect(splitCidr("10.0.0.0/24", 16)).toHaveLength(16);
  });

  test.each([0, -1, 1.5])("refuses a subnet count of %p", (count) => {
    expect(() => splitCidr("10.0.0.0/16", count)).toThrow(/cidr split: subnet count must be an integer >= 1/);
  });
});
