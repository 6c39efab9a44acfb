import "./helpers/cdktf-matchers";
import { TerraformOutput, TerraformVariable } from "cdktf";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { VpcSecurityGroupEgressRule } from "@cdktf/provider-aws/lib/vpc-security-group-egress-rule";
import { fetchPorts } from "../contract";
import { Network, NetworkProps } from "../modules/network";
import { synthInStack as synth, type Resources } from "./helpers/synth";


const BASE: NetworkProps = {
  name: "fanout-pipeline-test",
  region: "eu-west-1",
  availabilityZones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
  egressVpcCidr: "10.10.0.0/16",
  isolatedVpcCidr: "10.20.0.0/16",
  nat: "single",
  flowLogRetentionDays: 30,
};

function synthNetwork(overrides: Partial<NetworkProps> = {}): { out: string; res: Resources; tf: any } {
  const out = synth((scope) => new Network(scope, "net", { ...BASE, ...overrides }));
  const tf = JSON.parse(out);
  return { out, res: tf.resource, tf };
}

/** Key of the one resource of `type` whose Name tag is `name`. */
function keyByName(res: Resources, type: string, name: string): string {
  const keys = Object.keys(res[type] ?? {}).filter((k) => res[type][k].tags?.Name === name);
  if (keys.length !== 1) throw new Error(`expected one ${type} named ${name}, found ${keys.length}`);
  return keys[0];
}

const ref = (type: string, key: string, attr = "id") => `\${${type}.${key}.${attr}}`;
const all = (res: Resources, type: string) => Object.values(res[type] ?? {});

describe("Network: egress VPC", () => {
  test("lays out a public and a private subnet per AZ, split equally from the VPC range", () => {
    const { res } = synthNetwork();
    const vpc = ref("aws_vpc", keyByName(res, "aws_vpc", "fanout-pipeline-test-egress"));
    const subnets = all(res, "aws_subnet")
      .filter((s) => s.vpc_id === vpc)
      .sort((a, b) => a.cidr_block.localeCompare(b.cidr_block, "en", { numeric: true }));
    expect(subnets.map((s) => [s.tags.Tier, s.availability_zone, s.cidr_block])).toEqual([
      ["public", "eu-west-1a", "10.10.0.0/19"],
      ["public", "eu-west-1b", "10.10.32.0/19"],
      ["public", "eu-west-1c", "10.10.64.0/19"],
      ["private", "eu-west-1a", "10.10.96.0/19"],
      ["private", "eu-west-1b", "10.10.128.0/19"],
      ["private", "eu-west-1c", "10.10.160.0/19"],
    ]);
    expect(subnets.every((s) => s.map_public_ip_on_launch === false)).toBe(true);
  });

  test("enables DNS support and hostnames in both VPCs", () => {
    const { res } = synthNetwork();
    const vpcs = all(res, "aws_vpc");
    expect(vpcs.map((v) => v.cidr_block).sort()).toEqual(["10.10.0.0/16", "10.20.0.0/16"]);
    for (const vpc of vpcs) {
      expect(vpc).toMatchObject({ enable_dns_support: true, enable_dns_hostnames: true });
    }
  });

  test("public route table sends 0.0.0.0/0 to the internet gateway and serves every public subnet", () => {
    const { res } = synthNetwork();
    const igw = keyByName(res, "aws_internet_gateway", "fanout-pipeline-test-egress");
    const publicRt = ref("aws_route_table", keyByName(res, "aws_route_table", "fanout-pipeline-test-egress-public"));
    const routes = all(res, "aws_route").filter((r) => r.route_table_id === publicRt);
    expect(routes).toEqual([
      { route_table_id: publicRt, destination_cidr_block: "0.0.0.0/0", gateway_id: ref("aws_internet_gateway", igw) },
    ]);
    for (const az of BASE.availabilityZones) {
      const subnet = ref("aws_subnet", keyByName(res, "aws_subnet", `fanout-pipeline-test-egress-public-${az}`));
      expect(all(res, "aws_route_table_association")).toContainEqual({ subnet_id: subnet, route_table_id: publicRt });
    }
  });

  test("single NAT puts one NAT gateway in the first public subnet and routes every private subnet to it", () => {
    const { res } = synthNetwork({ nat: "single" });
    expect(Object.keys(res.aws_nat_gateway)).toHaveLength(1);
    expect(Object.keys(res.aws_eip)).toHaveLength(1);
    const natKey = Object.keys(res.aws_nat_gateway)[0];
    const nat = res.aws_nat_gateway[natKey];
    expect(nat.subnet_id).toBe(ref("aws_subnet", keyByName(res, "aws_subnet", "fanout-pipeline-test-egress-public-eu-west-1a")));
    expect(nat.allocation_id).toBe(ref("aws_eip", Object.keys(res.aws_eip)[0], "allocation_id"));
    for (const az of BASE.availabilityZones) {
      const subnet = ref("aws_subnet", keyByName(res, "aws_subnet", `fanout-pipeline-test-egress-private-${az}`));
      const rt = ref("aws_route_table", keyByName(res, "aws_route_table", `fanout-pipeline-test-egress-private-${az}`));
      expect(all(res, "aws_route_table_association")).toContainEqual({ subnet_id: subnet, route_table_id: rt });
      expect(all(res, "aws_route").filter((r) => r.route_table_id === rt)).toEqual([
        { route_table_id: rt, destination_cidr_block: "0.0.0.0/0", nat_gateway_id: ref("aws_nat_gateway", natKey) },
      ]);
    }
  });

  test("perAz NAT gives each AZ its own NAT gateway, in its own public subnet, for its own private subnet", () => {
    const { res } = synthNetwork({ nat: "perAz" });
    expect(Object.keys(res.aws_nat_gateway)).toHaveLength(3);
    expect(Object.keys(res.aws_eip)).toHaveLength(3);
    for (const az of BASE.availabilityZones) {
      const nat = keyByName(res, "aws_nat_gateway", `fanout-pipeline-test-egress-nat-${az}`);
      const publicSubnet = ref("aws_subnet", keyByName(res, "aws_subnet", `fanout-pipeline-test-egress-public-${az}`));
      expect(res.aws_nat_gateway[nat].subnet_id).toBe(publicSubnet);
      const rt = ref("aws_route_table", keyByName(res, "aws_route_table", `fanout-pipeline-test-egress-private-${az}`));
      expect(all(res, "aws_route").filter((r) => r.route_table_id === rt)).toEqual([
        { route_table_id: rt, destination_cidr_block: "0.0.0.0/0", nat_gateway_id: ref("aws_nat_gateway", nat) },
      ]);
    }
  });

  test("NAT gateways and their EIPs wait for the internet gateway", () => {
    const { res } = synthNetwork({ nat: "perAz" });
    const igw = `aws_internet_gateway.${Object.keys(res.aws_internet_gateway)[0]}`;
    for (const r of [...all(res, "aws_nat_gateway"), ...all(res, "aws_eip")]) expect(r.depends_on).toEqual([igw]);
    for (const eip of all(res, "aws_eip")) expect(eip.domain).toBe("vpc");
  });

  test("S3 gateway endpoint sits on the private route tables only", () => {
    const { res } = synthNetwork();
    const endpoint = res.aws_vpc_endpoint[keyByName(res, "aws_vpc_endpoint", "fanout-pipeline-test-egress-s3")];
    expect(endpoint).toMatchObject({
      service_name: "com.amazonaws.eu-west-1.s3",
      vpc_endpoint_type: "Gateway",
      vpc_id: ref("aws_vpc", keyByName(res, "aws_vpc", "fanout-pipeline-test-egress")),
    });
    expect(endpoint.route_table_ids).toEqual(
      BASE.availabilityZones.map((az) =>
        ref("aws_route_table", keyByName(res, "aws_route_table", `fanout-pipeline-test-egress-private-${az}`)),
      ),
    );
  });
});

describe("Network: isolated VPC", () => {
  test("has one subnet per AZ, split from its own range", () => {
    const { res } = synthNetwork();
    const vpc = ref("aws_vpc", keyByName(res, "aws_vpc", "fanout-pipeline-test-isolated"));
    const subnets = all(res, "aws_subnet").filter((s) => s.vpc_id === vpc);
    expect(subnets.map((s) => [s.availability_zone, s.cidr_block])).toEqual([
      ["eu-west-1a", "10.20.0.0/18"],
      ["eu-west-1b", "10.20.64.0/18"],
      ["eu-west-1c", "10.20.128.0/18"],
    ]);
  });

  test.each(["single", "perAz"] as const)(
    "has no route to 0.0.0.0/0 or ::/0 and no internet or NAT gateway (nat %s)",
    (nat) => {
      const { res } = synthNetwork({ nat, allowHttp: true });
      const vpcKey = keyByName(res, "aws_vpc", "fanout-pipeline-test-isolated");
      const vpc = ref("aws_vpc", vpcKey);
      const isolatedRts = Object.keys(res.aws_route_table).filter((k) => res.aws_route_table[k].vpc_id === vpc);
      expect(isolatedRts).toHaveLength(1);
      const rtRef = ref("aws_route_table", isolatedRts[0]);
      // No inline routes on any route table, and no aws_route resource on the isolated one.
      for (const rt of all(res, "aws_route_table")) expect(rt.route).toBeUndefined();
      expect(all(res, "aws_route").filter((r) => r.route_table_id === rtRef)).toEqual([]);
      // Every subnet of the isolated VPC uses that route table.
      const subnets = Object.keys(res.aws_subnet).filter((k) => res.aws_subnet[k].vpc_id === vpc);
      for (const s of subnets) {
        expect(all(res, "aws_route_table_association")).toContainEqual({
          subnet_id: ref("aws_subnet", s),
          route_table_id: rtRef,
        });
      }
      // Gateways live in the egress VPC only.
      expect(all(res, "aws_internet_gateway").map((g) => g.vpc_id)).not.toContain(vpc);
      const isolatedSubnetRefs = subnets.map((s) => ref("aws_subnet", s));
      for (const n of all(res, "aws_nat_gateway")) expect(isolatedSubnetRefs).not.toContain(n.subnet_id);
      expect(res.aws_egress_only_internet_gateway).toBeUndefined();
      // Nothing anywhere in the configuration mentions the isolated VPC next to a default route.
      const routesOut = all(res, "aws_route").filter(
        (r) => r.destination_cidr_block === "0.0.0.0/0" || r.destination_ipv6_cidr_block === "::/0",
      );
      const egressRts = Object.keys(res.aws_route_table)
        .filter((k) => res.aws_route_table[k].vpc_id !== vpc)
        .map((k) => ref("aws_route_table", k));
      for (const r of routesOut) expect(egressRts).toContain(r.route_table_id);
    },
  );

  test("reaches S3 through a gateway endpoint on its route table", () => {
    const { res } = synthNetwork();
    const vpc = keyByName(res, "aws_vpc", "fanout-pipeline-test-isolated");
    const rt = keyByName(res, "aws_route_table", "fanout-pipeline-test-isolated");
    expect(res.aws_vpc_endpoint[keyByName(res, "aws_vpc_endpoint", "fanout-pipeline-test-isolated-s3")]).toMatchObject({
      vpc_id: ref("aws_vpc", vpc),
      service_name: "com.amazonaws.eu-west-1.s3",
      vpc_endpoint_type: "Gateway",
      route_table_ids: [ref("aws_route_table", rt)],
    });
  });
});

describe("Network: flow logs", () => {
  test("both VPCs log ALL traffic to their own log group with the given retention", () => {
    const { res } = synthNetwork({ flowLogRetentionDays: 90 });
    for (const kind of ["egress", "isolated"]) {
      const group = keyByName(res, "aws_cloudwatch_log_group", `fanout-pipeline-test-${kind}-flow-logs`);
      expect(res.aws_cloudwatch_log_group[group]).toMatchObject({
        name: `/aws/vpc-flow-logs/fanout-pipeline-test-${kind}`,
        retention_in_days: 90,
      });
      const role = keyByName(res, "aws_iam_role", `fanout-pipeline-test-${kind}-flow-logs`);
      expect(res.aws_flow_log[keyByName(res, "aws_flow_log", `fanout-pipeline-test-${kind}`)]).toMatchObject({
        vpc_id: ref("aws_vpc", keyByName(res, "aws_vpc", `fanout-pipeline-test-${kind}`)),
        traffic_type: "ALL",
        log_destination_type: "cloud-watch-logs",
        log_destination: ref("aws_cloudwatch_log_group", group, "arn"),
        iam_role_arn: ref("aws_iam_role", role, "arn"),
      });
    }
  });

  test("the flow log role trusts only VPC Flow Logs of this account and may only write to its log group", () => {
    const { res } = synthNetwork();
    for (const kind of ["egress", "isolated"]) {
      const roleKey = keyByName(res, "aws_iam_role", `fanout-pipeline-test-${kind}-flow-logs`);
      const trust = JSON.parse(res.aws_iam_role[roleKey].assume_role_policy);
      expect(trust.Statement).toEqual([
        {
          Effect: "Allow",
          Principal: { Service: "vpc-flow-logs.amazonaws.com" },
          Action: "sts:AssumeRole",
          Condition: {
            StringEquals: {
              "aws:SourceAccount": ref("aws_vpc", keyByName(res, "aws_vpc", `fanout-pipeline-test-${kind}`), "owner_id"),
            },
          },
        },
      ]);
      const policies = all(res, "aws_iam_role_policy").filter((p) => p.role === ref("aws_iam_role", roleKey));
      expect(policies).toHaveLength(1);
      const group = keyByName(res, "aws_cloudwatch_log_group", `fanout-pipeline-test-${kind}-flow-logs`);
      expect(JSON.parse(policies[0].policy).Statement).toEqual([
        {
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
          Resource: `${ref("aws_cloudwatch_log_group", group, "arn")}:*`,
        },
      ]);
    }
  });
});

describe("Network: security groups", () => {
  test("the functions' security groups have no ingress; the Step Functions endpoint admits the processor only; default groups emptied", () => {
    const { res } = synthNetwork({ allowHttp: true });
    expect(Object.keys(res.aws_security_group)).toHaveLength(3);
    for (const sg of all(res, "aws_security_group")) {
      expect(sg.ingress).toBeUndefined();
      expect(sg.egress).toBeUndefined();
      expect(sg.revoke_rules_on_delete).toBe(true);
    }
    const endpointSg = ref("aws_security_group", keyByName(res, "aws_security_group", "fanout-pipeline-test-sfn-endpoint"));
    const processorSg = ref("aws_security_group", keyByName(res, "aws_security_group", "fanout-pipeline-test-processor"));
    expect(all(res, "aws_vpc_security_group_ingress_rule")).toEqual([
      expect.objectContaining({ security_group_id: endpointSg, referenced_security_group_id: processorSg, ip_protocol: "tcp", from_port: 443, to_port: 443 }),
    ]);
    expect(all(res, "aws_vpc_security_group_egress_rule").filter((r) => r.security_group_id === endpointSg)).toEqual([]);
    expect(res.aws_security_group_rule).toBeUndefined();
    // The VPCs' default security groups are adopted with no rules, which strips AWS's self-ingress.
    const defaults = all(res, "aws_default_security_group");
    expect(defaults.map((d) => d.vpc_id).sort()).toEqual(all(res, "aws_vpc").map((_, i) => ref("aws_vpc", Object.keys(res.aws_vpc)[i])).sort());
    for (const d of defaults) {
      expect(d.ingress).toBeUndefined();
      expect(d.egress).toBeUndefined();
    }
  });

  test("fetcher (egress VPC) may reach https anywhere and S3 through its prefix list, nothing else", () => {
    const { res } = synthNetwork();
    const sg = keyByName(res, "aws_security_group", "fanout-pipeline-test-fetcher");
    expect(res.aws_security_group[sg].vpc_id).toBe(ref("aws_vpc", keyByName(res, "aws_vpc", "fanout-pipeline-test-egress")));
    const egressS3 = keyByName(res, "aws_vpc_endpoint", "fanout-pipeline-test-egress-s3");
    const rules = all(res, "aws_vpc_security_group_egress_rule")
      .filter((r) => r.security_group_id === ref("aws_security_group", sg))
      .map(({ ip_protocol, from_port, to_port, cidr_ipv4, prefix_list_id }) => ({ ip_protocol, from_port, to_port, cidr_ipv4, prefix_list_id }));
    expect(rules).toEqual([
      { ip_protocol: "tcp", from_port: 443, to_port: 443, cidr_ipv4: "0.0.0.0/0", prefix_list_id: undefined },
      {
        ip_protocol: "tcp",
        from_port: 443,
        to_port: 443,
        cidr_ipv4: undefined,
        prefix_list_id: ref("aws_vpc_endpoint", egressS3, "prefix_list_id"),
      },
    ]);
  });

  test("allowHttp adds tcp 80 egress to the fetcher only", () => {
    const without = synthNetwork().res;
    const withHttp = synthNetwork({ allowHttp: true }).res;
    const port80 = (res: Resources) => all(res, "aws_vpc_security_group_egress_rule").filter((r) => r.from_port === 80);
    expect(port80(without)).toEqual([]);
    const fetcher = ref("aws_security_group", keyByName(withHttp, "aws_security_group", "fanout-pipeline-test-fetcher"));
    expect(port80(withHttp)).toEqual([
      expect.objectContaining({ security_group_id: fetcher, ip_protocol: "tcp", from_port: 80, to_port: 80, cidr_ipv4: "0.0.0.0/0" }),
    ]);
  });

  test("processor (isolated VPC) may reach only tcp 443 on the isolated VPC's S3 prefix list and the Step Functions endpoint", () => {
    const { out, res } = synthNetwork({ allowHttp: true });
    const sg = keyByName(res, "aws_security_group", "fanout-pipeline-test-processor");
    expect(res.aws_security_group[sg].vpc_id).toBe(ref("aws_vpc", keyByName(res, "aws_vpc", "fanout-pipeline-test-isolated")));
    const rules = all(res, "aws_vpc_security_group_egress_rule").filter(
      (r) => r.security_group_id === ref("aws_security_group", sg),
    );
    const isolatedS3 = keyByName(res, "aws_vpc_endpoint", "fanout-pipeline-test-isolated-s3");
    expect(rules).toHaveLength(2);
    for (const rule of rules) {
      expect(rule).not.toHaveProperty("cidr_ipv4");
      expect(rule).not.toHaveProperty("cidr_ipv6");
      expect([rule.from_port, rule.to_port]).toEqual([443, 443]);
    }
    const endpointSg = keyByName(res, "aws_security_group", "fanout-pipeline-test-sfn-endpoint");
    expect(rules.map((r) => r.referenced_security_group_id).filter(Boolean)).toEqual([ref("aws_security_group", endpointSg)]);
    expect(out).toHaveResourceWithProperties(VpcSecurityGroupEgressRule, {
      security_group_id: ref("aws_security_group", sg),
      ip_protocol: "tcp",
      from_port: 443,
      to_port: 443,
      prefix_list_id: ref("aws_vpc_endpoint", isolatedS3, "prefix_list_id"),
    });
  });
});

describe("Network: exposed attributes", () => {
  test("point at the right resources", () => {
    let net!: Network;
    const out = synth((scope) => {
      net = new Network(scope, "net", { ...BASE, nat: "perAz" });
      new TerraformOutput(scope, "o", {
        value: {
          egressVpcId: net.egressVpcId,
          isolatedVpcId: net.isolatedVpcId,
          egressPrivateSubnetIds: net.egressPrivateSubnetIds,
          egressPublicSubnetIds: net.egressPublicSubnetIds,
          isolatedSubnetIds: net.isolatedSubnetIds,
          natGatewayIds: net.natGatewayIds,
          fetcherSecurityGroupId: net.fetcherSecurityGroupId,
          processorSecurityGroupId: net.processorSecurityGroupId,
          s3PrefixListId: net.s3PrefixListId,
        },
      });
    });
    const tf = JSON.parse(out);
    const res: Resources = tf.resource;
    const subnet = (n: string) => ref("aws_subnet", keyByName(res, "aws_subnet", `fanout-pipeline-test-${n}`));
    const azs = BASE.availabilityZones;
    expect(tf.output.o.value).toEqual({
      egressVpcId: ref("aws_vpc", keyByName(res, "aws_vpc", "fanout-pipeline-test-egress")),
      isolatedVpcId: ref("aws_vpc", keyByName(res, "aws_vpc", "fanout-pipeline-test-isolated")),
      egressPrivateSubnetIds: azs.map((az) => subnet(`egress-private-${az}`)),
      egressPublicSubnetIds: azs.map((az) => subnet(`egress-public-${az}`)),
      isolatedSubnetIds: azs.map((az) => subnet(`isolated-${az}`)),
      natGatewayIds: azs.map((az) => ref("aws_nat_gateway", keyByName(res, "aws_nat_gateway", `fanout-pipeline-test-egress-nat-${az}`))),
      fetcherSecurityGroupId: ref("aws_security_group", keyByName(res, "aws_security_group", "fanout-pipeline-test-fetcher")),
      processorSecurityGroupId: ref("aws_security_group", keyByName(res, "aws_security_group", "fanout-pipeline-test-processor")),
      s3PrefixListId: ref("aws_vpc_endpoint", keyByName(res, "aws_vpc_endpoint", "fanout-pipeline-test-isolated-s3"), "prefix_list_id"),
    });
  });
});

describe("Network: validation", () => {
  const attempt = (overrides: Partial<NetworkProps>) => () => synthNetwork(overrides);

  test("refuses overlapping VPC CIDRs", () => {
    expect(attempt({ egressVpcCidr: "10.0.0.0/16", isolatedVpcCidr: "10.0.128.0/20" })).toThrow(
      /network cidr: egressVpcCidr \(10\.0\.0\.0\/16\) and isolatedVpcCidr \(10\.0\.128\.0\/20\) must not overlap/,
    );
    expect(attempt({ egressVpcCidr: "10.0.0.0/16", isolatedVpcCidr: "10.0.0.0/16" })).toThrow(/must not overlap/);
  });

  test("refuses one AZ", () => {
    expect(attempt({ availabilityZones: ["eu-west-1a"] })).toThrow(
      /network availability zones: availabilityZones must list at least 2 AZs \(given 1: \["eu-west-1a"\]\)/,
    );
  });

  test("refuses the same AZ twice", () => {
    expect(attempt({ availabilityZones: ["eu-west-1a", "eu-west-1a"] })).toThrow(
      /availabilityZones must be distinct \("eu-west-1a" appears twice\)/,
    );
  });

  test("refuses an AZ outside the region", () => {
    expect(attempt({ availabilityZones: ["eu-west-1a", "us-east-1b"] })).toThrow(
      /availabilityZones must be in region eu-west-1 \(given "us-east-1b"\)/,
    );
  });

  test("refuses AZ names that are only known at apply time", () => {
    expect(() =>
      synth((scope) => {
        const v = new TerraformVariable(scope, "azs", { type: "list(string)" });
        new Network(scope, "net", { ...BASE, availabilityZones: v.listValue });
      }),
    ).toThrow(/availabilityZones must be literal names/);
  });

  test.each([
    ["egressVpcCidr", "10.0.0.0/8", /network cidr: egressVpcCidr prefix must be \/16\.\.\/24 \(given "10\.0\.0\.0\/8"\)/],
    ["egressVpcCidr", "10.0.0.0/25", /network cidr: egressVpcCidr prefix must be \/16\.\.\/24 \(given "10\.0\.0\.0\/25"\)/],
    ["isolatedVpcCidr", "10.30.0.0/15", /network cidr: isolatedVpcCidr prefix must be \/16\.\.\/24 \(given "10\.30\.0\.0\/15"\)/],
    ["isolatedVpcCidr", "10.30.0/16", /cidr syntax: isolatedVpcCidr must be an IPv4 CIDR like 10\.0\.0\.0\/16 \(given "10\.30\.0\/16"\)/],
    ["egressVpcCidr", "10.10.0.1/16", /cidr syntax: egressVpcCidr has host bits set \(given "10\.10\.0\.1\/16"/],
  ] as const)("refuses %s = %s", (field, value, message) => {
    expect(attempt({ [field]: value })).toThrow(message);
  });

  test("refuses a VPC range too small for its subnets", () => {
    const nine = "abcdefghi".split("").map((l) => `eu-west-1${l}`);
    // 9 AZs: 18 egress subnets -> 32 slots of a /24 -> /29, below AWS's /28 minimum.
    expect(attempt({ availabilityZones: nine, egressVpcCidr: "10.10.0.0/24" })).toThrow(
      /cidr split: egressVpcCidr 10\.10\.0\.0\/24 is too small for 18 subnets \(each would be \/29, smallest allowed is \/28\)/,
    );
    // 8 AZs fit: 16 subnets of /28.
    expect(attempt({ availabilityZones: nine.slice(0, 8), egressVpcCidr: "10.10.0.0/24" })).not.toThrow();
  });

  test.each([0, 2, 10, 366, 4000])("refuses a flow log retention of %p days (not a CloudWatch value)", (days) => {
    expect(attempt({ flowLogRetentionDays: days })).toThrow(
      new RegExp(`network flow logs: flowLogRetentionDays must be one of CloudWatch's values 1, 3, 5, .*, 3653 \\(given ${days}\\)`),
    );
  });

  test("accepts a flow log retention that is only known at apply time", () => {
    const out = synth((scope) => {
      const v = new TerraformVariable(scope, "retention", { type: "number" });
      new Network(scope, "net", { ...BASE, flowLogRetentionDays: v.numberValue });
    });
    expect(out).toHaveResourceWithProperties(CloudwatchLogGroup, {
      retention_in_days: "${var.retention}",
    });
  });

  test("refuses a nat value other than single or perAz", () => {
    expect(attempt({ nat: "none" as any })).toThrow(/network nat: nat must be "single" or "perAz" \(given "none"\)/);
  });

  test.each(["", "has space", "x".repeat(41)])("refuses the name %j", (name) => {
    expect(attempt({ name })).toThrow(/network name: name must be 1\.\.40 characters of \[A-Za-z0-9_-\] \(given ".*"\)/);
  });

  test("refuses a malformed region", () => {
    expect(attempt({ region: "Ireland" })).toThrow(/network region: region must look like eu-west-1 \(given "Ireland"\)/);
  });
});

describe("Network: Step Functions endpoint of the isolated VPC", () => {
  test("is an interface endpoint with private DNS in every isolated subnet, behind its own security group", () => {
    const { res } = synthNetwork();
    const key = keyByName(res, "aws_vpc_endpoint", "fanout-pipeline-test-isolated-states");
    const endpoint = res.aws_vpc_endpoint[key];
    const isolatedVpc = ref("aws_vpc", keyByName(res, "aws_vpc", "fanout-pipeline-test-isolated"));
    const isolatedSubnets = Object.keys(res.aws_subnet).filter((k) => res.aws_subnet[k].vpc_id === isolatedVpc).map((k) => ref("aws_subnet", k));
    expect(endpoint).toMatchObject({
      service_name: "com.amazonaws.eu-west-1.states",
      vpc_endpoint_type: "Interface",
      private_dns_enabled: true,
      vpc_id: isolatedVpc,
      security_group_ids: [ref("aws_security_group", keyByName(res, "aws_security_group", "fanout-pipeline-test-sfn-endpoint"))],
    });
    expect([...endpoint.subnet_ids].sort()).toEqual(isolatedSubnets.sort());
  });

  test("allowTaskTokenCalls gives the endpoint a policy of the three task-token actions for the named roles only", () => {
    const out = synth((scope) => new Network(scope, "net", BASE).allowTaskTokenCalls(["arn:aws:iam::123456789012:role/processor"]));
    const [policy] = all(JSON.parse(out).resource, "aws_vpc_endpoint_policy");
    expect(JSON.parse(policy.policy).Statement).toEqual([
      {
        Sid: "TaskTokenAnswersOnly",
        Effect: "Allow",
        Principal: { AWS: ["arn:aws:iam::123456789012:role/processor"] },
        Action: ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
        Resource: "*",
      },
    ]);
  });
});

describe("Network: defence in depth", () => {
  test("each flow log waits for its role's policy, not only its role", () => {
    const { res } = synthNetwork();
    for (const log of all(res, "aws_flow_log")) {
      const policyIds = (log.depends_on as string[]).filter((d) => d.startsWith("aws_iam_role_policy."));
      expect(policyIds).toHaveLength(1);
      const policy = res.aws_iam_role_policy[policyIds[0].split(".")[1]];
      expect(log.iam_role_arn).toBe(policy.role.replace(/\.id\}$/, ".arn}"));
    }
  });

  test("a network ACL on the fetcher's private subnets drops private, loopback, link-local and CGNAT destinations but the VPC's own range", () => {
    const { res } = synthNetwork();
    const [[aclKey, acl]] = Object.entries(res.aws_network_acl);
    const egressVpc = ref("aws_vpc", keyByName(res, "aws_vpc", "fanout-pipeline-test-egress"));
    const privateSubnets = Object.keys(res.aws_subnet).filter((k) => res.aws_subnet[k].vpc_id === egressVpc && res.aws_subnet[k].tags.Tier === "private");
    expect(acl.vpc_id).toBe(egressVpc);
    expect([...acl.subnet_ids].sort()).toEqual(privateSubnets.map((k) => ref("aws_subnet", k)).sort());
    const rules = all(res, "aws_network_acl_rule").filter((r) => r.network_acl_id === ref("aws_network_acl", aclKey));
    const egress = rules.filter((r) => r.egress).sort((a, b) => a.rule_number - b.rule_number).map((r) => `${r.rule_action} ${r.cidr_block}`);
    expect(egress[0]).toBe("allow 10.10.0.0/16");
    expect(egress.at(-1)).toBe("allow 0.0.0.0/0");
    for (const cidr of ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16"]) {
      expect(egress).toContain(`deny ${cidr}`);
    }
    expect(rules.filter((r) => !r.egress).map((r) => `${r.rule_action} ${r.cidr_block}`)).toEqual(["allow 0.0.0.0/0"]);
  });

  test("limitS3Endpoints gives each S3 gateway endpoint its own policy and refuses an empty one", () => {
    const statement = (action: string) => ({ Effect: "Allow" as const, Principal: "*", Action: action, Resource: "arn:aws:s3:::work/jobs/*" });
    const out = synth((scope) => new Network(scope, "net", BASE).limitS3Endpoints({ egress: [statement("s3:PutObject")], isolated: [statement("s3:GetObject")] }));
    const res = JSON.parse(out).resource as Resources;
    const byEndpoint = Object.fromEntries(all(res, "aws_vpc_endpoint_policy").map((p) => [p.vpc_endpoint_id, JSON.parse(p.policy).Statement[0].Action]));
    expect(byEndpoint).toEqual({
      [ref("aws_vpc_endpoint", keyByName(res, "aws_vpc_endpoint", "fanout-pipeline-test-egress-s3"))]: "s3:PutObject",
      [ref("aws_vpc_endpoint", keyByName(res, "aws_vpc_endpoint", "fanout-pipeline-test-isolated-s3"))]: "s3:GetObject",
    });
    expect(() => synth((scope) => new Network(scope, "net", BASE).limitS3Endpoints({ egress: [], isolated: [statement("s3:GetObject")] }))).toThrow(
      /the egress endpoint needs at least one statement/,
    );
  });
});

describe("Network: one list of fetchable ports", () => {
  test.each([false, true])("with allowHttp %p the fetcher's security group opens to the internet exactly the ports the fanout accepts", (allowHttp) => {
    const { res } = synthNetwork({ allowHttp });
    const fetcher = ref("aws_security_group", keyByName(res, "aws_security_group", "fanout-pipeline-test-fetcher"));
    const internet = all(res, "aws_vpc_security_group_egress_rule").filter((r) => r.security_group_id === fetcher && r.cidr_ipv4 === "0.0.0.0/0");
    expect(internet.map((r) => r.from_port).sort()).toEqual([...fetchPorts(allowHttp)].sort());
    for (const r of internet) expect(r.to_port).toBe(r.from_port);
  });
});
