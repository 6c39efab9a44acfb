import { Token } from "cdktf";
import { Construct } from "constructs";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { DefaultSecurityGroup } from "@cdktf/provider-aws/lib/default-security-group";
import { Eip } from "@cdktf/provider-aws/lib/eip";
import { FlowLog } from "@cdktf/provider-aws/lib/flow-log";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { InternetGateway } from "@cdktf/provider-aws/lib/internet-gateway";
import { NetworkAcl } from "@cdktf/provider-aws/lib/network-acl";
import { NetworkAclRule } from "@cdktf/provider-aws/lib/network-acl-rule";
import { NatGateway } from "@cdktf/provider-aws/lib/nat-gateway";
import { Route } from "@cdktf/provider-aws/lib/route";
import { RouteTable } from "@cdktf/provider-aws/lib/route-table";
import { RouteTableAssociation } from "@cdktf/provider-aws/lib/route-table-association";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { Subnet } from "@cdktf/provider-aws/lib/subnet";
import { Vpc } from "@cdktf/provider-aws/lib/vpc";
import { VpcEndpoint } from "@cdktf/provider-aws/lib/vpc-endpoint";
import { VpcEndpointPolicy } from "@cdktf/provider-aws/lib/vpc-endpoint-policy";
import { VpcSecurityGroupEgressRule } from "@cdktf/provider-aws/lib/vpc-security-group-egress-rule";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule";
import { FETCH_PORTS, fetchPorts } from "../contract";
import { policyDocument, type PolicyStatement } from "./iam";
import { cidrsOverlap, parseCidr, splitCidr } from "./cidr";
import { LOG_RETENTION_DAYS } from "./retention";


export interface NetworkProps {
  /**
   * Prefix of every resource name and Name tag, e.g. `fanout-pipeline-dev`.
   * 1..40 characters of `[A-Za-z0-9_-]` (it prefixes IAM role names, max 64).
   */
  readonly name: string;
  /**
   * AWS region the VPCs live in, e.g. `eu-west-1`; names the S3 gateway endpoint
   * service (`com.amazonaws.<region>.s3`).
   */
  readonly region: string;
  /**
   * Availability zone names (no lookups, so plan runs offline). At least 2,
   * distinct, each in `region`. One public + one private subnet per AZ in the
   * egress VPC, one subnet per AZ in the isolated VPC.
   */
  readonly availabilityZones: readonly string[];
  /** IPv4 CIDR of the egress VPC, prefix /16../24, split equally into its subnets. */
  readonly egressVpcCidr: string;
  /** IPv4 CIDR of the isolated VPC, prefix /16../24; must not overlap `egressVpcCidr`. */
  readonly isolatedVpcCidr: string;
  /**
   * NAT gateways (billed per hour and per GB, so there is no default):
   * `single` = one in the first AZ (cheaper, one AZ's outage cuts egress),
   * `perAz` = one per AZ (each private subnet routes to its own AZ's NAT).
   */
  readonly nat: "single" | "perAz";
  /**
   * Also let the fetcher security group egress to TCP 80 (plain http) anywhere.
   * @default false
   */
  readonly allowHttp?: boolean;
  /**
   * Retention of the VPC flow log groups, in days; one of the values CloudWatch
   * accepts (1, 3, 5, 7, 14, 30, 60, 90, … 3653: see `LOG_RETENTION_DAYS` in retention.ts).
   */
  readonly flowLogRetentionDays: number;
}

/**
 * Destinations the fetcher's subnets never send to (IPv4; the VPCs have no IPv6):
 * "this network", RFC 1918 private, shared address space (CGNAT), loopback,
 * link-local (instance metadata included), IETF protocol assignments, and the
 * multicast and reserved ranges.
 */
export const FETCHER_DENIED_RANGES = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "224.0.0.0/3",
] as const;

/** The Step Functions calls a task worker makes: the only ones the isolated VPC's endpoint allows. */
export const TASK_TOKEN_ACTIONS = ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"] as const;

const NAME_PATTERN = /^[A-Za-z0-9_-]{1,40}$/;
const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const VPC_PREFIX_MIN = 16;
const VPC_PREFIX_MAX = 24;
const SUBNET_PREFIX_MAX = 28;

/**
 * Two VPCs: an **egress** VPC (public subnets + internet gateway, NAT gateway(s),
 * private subnets routed through NAT) for the fetcher, and an **isolated** VPC
 * (private subnets with no route out at all) for the processor. Both reach S3
 * through a gateway endpoint, log all traffic to CloudWatch, and have their
 * default security group stripped of rules. The isolated VPC reaches Step
 * Functions (the processor's task-token answers) through an interface endpoint
 * with private DNS, which only the processor's security group may reach. The
 * functions' security groups carry no ingress.
 */
export class Network extends Construct {
  /** ID of the egress VPC. */
  public readonly egressVpcId: string;
  /** ID of the isolated VPC. */
  public readonly isolatedVpcId: string;
  /** Private subnets of the egress VPC (routed to NAT), in AZ order. */
  public readonly egressPrivateSubnetIds: string[];
  /** Public subnets of the egress VPC (routed to the internet gateway), in AZ order. */
  public readonly egressPublicSubnetIds: string[];
  /** Subnets of the isolated VPC, in AZ order. */
  public readonly isolatedSubnetIds: string[];
  /** NAT gateway IDs: one (`single`) or one per AZ (`perAz`). */
  public readonly natGatewayIds: string[];
  /** Security group for the fetcher (egress VPC): egress 443 (and 80 if allowed) only. */
  public readonly fetcherSecurityGroupId: string;
  /** Security group for the processor (isolated VPC): egress 443 to S3 and the Step Functions endpoint only. */
  public readonly processorSecurityGroupId: string;
  /** The Step Functions interface endpoint of the isolated VPC (its policy: `allowTaskTokenCalls`). */
  public readonly stepFunctionsEndpointId: string;
  /** Prefix list of S3 in the region, from the isolated VPC's gateway endpoint. */
  public readonly s3PrefixListId: string;
  /** The S3 gateway endpoints (their policies: `limitS3Endpoints`; `aws:SourceVpce` in bucket policies). */
  public readonly egressS3EndpointId: string;
  public readonly isolatedS3EndpointId: string;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    validateNetworkProps(props);
    const { name } = props;
    const azs = props.availabilityZones;
    const s3Service = `com.amazonaws.${props.region}.s3`;

    // ---------------------------------------------------------------- egress VPC
    const egressCidrs = splitCidr(props.egressVpcCidr, azs.length * 2, SUBNET_PREFIX_MAX, "egressVpcCidr");
    const egressVpc = new Vpc(this, "egress-vpc", {
      cidrBlock: props.egressVpcCidr,
      enableDnsSupport: true,
      enableDnsHostnames: true,
      tags: { Name: `${name}-egress` },
    });
    new DefaultSecurityGroup(this, "egress-default-sg", {
      vpcId: egressVpc.id,
      // No ingress/egress blocks: Terraform removes every rule from the default group.
      tags: { Name: `${name}-egress-default-unused` },
    });
    const igw = new InternetGateway(this, "egress-igw", {
      vpcId: egressVpc.id,
      tags: { Name: `${name}-egress` },
    });
    const publicRt = new RouteTable(this, "egress-public-rt", {
      vpcId: egressVpc.id,
      tags: { Name: `${name}-egress-public` },
    });
    new Route(this, "egress-public-default-route", {
      routeTableId: publicRt.id,
      destinationCidrBlock: "0.0.0.0/0",
      gatewayId: igw.id,
    });
    const publicSubnets = azs.map((az, i) => {
      const subnet = new Subnet(this, `egress-public-${i}`, {
        vpcId: egressVpc.id,
        availabilityZone: az,
        cidrBlock: egressCidrs[i],
        mapPublicIpOnLaunch: false,
        tags: { Name: `${name}-egress-public-${az}`, Tier: "public" },
      });
      new RouteTableAssociation(this, `egress-public-${i}-rta`, {
        subnetId: subnet.id,
        routeTableId: publicRt.id,
      });
      return subnet;
    });

    const natCount = props.nat === "perAz" ? azs.length : 1;
    const nats: NatGateway[] = [];
    for (let i = 0; i < natCount; i++) {
      const eip = new Eip(this, `egress-nat-${i}-eip`, {
        domain: "vpc",
        tags: { Name: `${name}-egress-nat-${azs[i]}` },
        dependsOn: [igw],
      });
      nats.push(
        new NatGateway(this, `egress-nat-${i}`, {
          allocationId: eip.allocationId,
          subnetId: publicSubnets[i].id,
          connectivityType: "public",
          tags: { Name: `${name}-egress-nat-${azs[i]}` },
          dependsOn: [igw],
        }),
      );
    }

    const privateRts: RouteTable[] = [];
    const privateSubnets = azs.map((az, i) => {
      const subnet = new Subnet(this, `egress-private-${i}`, {
        vpcId: egressVpc.id,
        availabilityZone: az,
        cidrBlock: egressCidrs[azs.length + i],
        mapPublicIpOnLaunch: false,
        tags: { Name: `${name}-egress-private-${az}`, Tier: "private" },
      });
      const rt = new RouteTable(this, `egress-private-${i}-rt`, {
        vpcId: egressVpc.id,
        tags: { Name: `${name}-egress-private-${az}` },
      });
      new Route(this, `egress-private-${i}-default-route`, {
        routeTableId: rt.id,
        destinationCidrBlock: "0.0.0.0/0",
        natGatewayId: nats[props.nat === "perAz" ? i : 0].id,
      });
      new RouteTableAssociation(this, `egress-private-${i}-rta`, {
        subnetId: subnet.id,
        routeTableId: rt.id,
      });
      privateRts.push(rt);
      return subnet;
    });

    const egressS3 = new VpcEndpoint(this, "egress-s3-endpoint", {
      vpcId: egressVpc.id,
      serviceName: s3Service,
      vpcEndpointType: "Gateway",
      routeTableIds: privateRts.map((rt) => rt.id),
      tags: { Name: `${name}-egress-s3` },
    });
    this.addFlowLogs("egress", egressVpc, props);
    this.addFetcherAcl(egressVpc, privateSubnets, props);

    // -------------------------------------------------------------- isolated VPC
    const isolatedCidrs = splitCidr(props.isolatedVpcCidr, azs.length, SUBNET_PREFIX_MAX, "isolatedVpcCidr");
    const isolatedVpc = new Vpc(this, "isolated-vpc", {
      cidrBlock: props.isolatedVpcCidr,
      enableDnsSupport: true,
      enableDnsHostnames: true,
      tags: { Name: `${name}-isolated` },
    });
    new DefaultSecurityGroup(this, "isolated-default-sg", {
      vpcId: isolatedVpc.id,
      tags: { Name: `${name}-isolated-default-unused` },
    });
    // One route table, no routes but the implicit local one (and S3's prefix list
    // route, added by the gateway endpoint): nothing leads out of this VPC.
    const isolatedRt = new RouteTable(this, "isolated-rt", {
      vpcId: isolatedVpc.id,
      tags: { Name: `${name}-isolated` },
    });
    const isolatedSubnets = azs.map((az, i) => {
      const subnet = new Subnet(this, `isolated-${i}`, {
        vpcId: isolatedVpc.id,
        availabilityZone: az,
        cidrBlock: isolatedCidrs[i],
        mapPublicIpOnLaunch: false,
        tags: { Name: `${name}-isolated-${az}`, Tier: "isolated" },
      });
      new RouteTableAssociation(this, `isolated-${i}-rta`, {
        subnetId: subnet.id,
        routeTableId: isolatedRt.id,
      });
      return subnet;
    });
    const isolatedS3 = new VpcEndpoint(this, "isolated-s3-endpoint", {
      vpcId: isolatedVpc.id,
      serviceName: s3Service,
      vpcEndpointType: "Gateway",
      routeTableIds: [isolatedRt.id],
      tags: { Name: `${name}-isolated-s3` },
    });
    this.addFlowLogs("isolated", isolatedVpc, props);

    // ----------------------------------------------------------- security groups
    const fetcherSg = new SecurityGroup(this, "fetcher-sg", {
      name: `${name}-fetcher`,
      description: "fetcher Lambda: no ingress; egress https (and http if allowed) and S3",
      vpcId: egressVpc.id,
      revokeRulesOnDelete: true,
      tags: { Name: `${name}-fetcher` },
    });
    // The ports the fanout accepts in a URL, and no other (one list: FETCH_PORTS).
    for (const port of fetchPorts(props.allowHttp === true)) {
      const scheme = port === FETCH_PORTS["https:"] ? "https" : "http";
      new VpcSecurityGroupEgressRule(this, `fetcher-egress-${scheme}`, {
        securityGroupId: fetcherSg.id,
        description: `${scheme} to the internet (through NAT)`,
        ipProtocol: "tcp",
        fromPort: port,
        toPort: port,
        cidrIpv4: "0.0.0.0/0",
        tags: { Name: `${name}-fetcher-${scheme}` },
      });
    }
    new VpcSecurityGroupEgressRule(this, "fetcher-egress-s3", {
      securityGroupId: fetcherSg.id,
      description: "https to S3 through the gateway endpoint",
      ipProtocol: "tcp",
      fromPort: 443,
      toPort: 443,
      prefixListId: egressS3.prefixListId,
      tags: { Name: `${name}-fetcher-s3` },
    });

    const processorSg = new SecurityGroup(this, "processor-sg", {
      name: `${name}-processor`,
      description: "processor Lambda: no ingress; egress https to S3 and the Step Functions endpoint only",
      vpcId: isolatedVpc.id,
      revokeRulesOnDelete: true,
      tags: { Name: `${name}-processor` },
    });
    new VpcSecurityGroupEgressRule(this, "processor-egress-s3", {
      securityGroupId: processorSg.id,
      description: "https to S3 through the gateway endpoint",
      ipProtocol: "tcp",
      fromPort: 443,
      toPort: 443,
      prefixListId: isolatedS3.prefixListId,
      tags: { Name: `${name}-processor-s3` },
    });

    // Step Functions, privately: the processor answers its task tokens through this endpoint.
    const sfnEndpointSg = new SecurityGroup(this, "sfn-endpoint-sg", {
      name: `${name}-sfn-endpoint`,
      description: "Step Functions interface endpoint: ingress https from the processor only, no egress",
      vpcId: isolatedVpc.id,
      revokeRulesOnDelete: true,
      tags: { Name: `${name}-sfn-endpoint` },
    });
    new VpcSecurityGroupIngressRule(this, "sfn-endpoint-ingress-processor", {
      securityGroupId: sfnEndpointSg.id,
      description: "https from the processor",
      ipProtocol: "tcp",
      fromPort: 443,
      toPort: 443,
      referencedSecurityGroupId: processorSg.id,
      tags: { Name: `${name}-sfn-endpoint-from-processor` },
    });
    new VpcSecurityGroupEgressRule(this, "processor-egress-sfn", {
      securityGroupId: processorSg.id,
      description: "https to the Step Functions interface endpoint",
      ipProtocol: "tcp",
      fromPort: 443,
      toPort: 443,
      referencedSecurityGroupId: sfnEndpointSg.id,
      tags: { Name: `${name}-processor-sfn` },
    });
    const sfnEndpoint = new VpcEndpoint(this, "isolated-sfn-endpoint", {
      vpcId: isolatedVpc.id,
      serviceName: `com.amazonaws.${props.region}.states`,
      vpcEndpointType: "Interface",
      privateDnsEnabled: true,
      subnetIds: isolatedSubnets.map((s) => s.id),
      securityGroupIds: [sfnEndpointSg.id],
      tags: { Name: `${name}-isolated-states` },
    });

    this.egressVpcId = egressVpc.id;
    this.isolatedVpcId = isolatedVpc.id;
    this.egressPublicSubnetIds = publicSubnets.map((s) => s.id);
    this.egressPrivateSubnetIds = privateSubnets.map((s) => s.id);
    this.isolatedSubnetIds = isolatedSubnets.map((s) => s.id);
    this.natGatewayIds = nats.map((n) => n.id);
    this.fetcherSecurityGroupId = fetcherSg.id;
    this.processorSecurityGroupId = processorSg.id;
    this.s3PrefixListId = isolatedS3.prefixListId;
    this.stepFunctionsEndpointId = sfnEndpoint.id;
    this.egressS3EndpointId = egressS3.id;
    this.isolatedS3EndpointId = isolatedS3.id;
  }

  /**
   * The Step Functions endpoint's policy: the task-token calls (SendTaskSuccess,
   * SendTaskFailure, SendTaskHeartbeat) of these roles, nothing else. Those
   * actions support no resource-level permissions (IAM accepts only "*"), so the
   * principal is what scopes them. A separate resource, since the roles are
   * created after the network.
   */
  allowTaskTokenCalls(roleArns: readonly string[]): void {
    new VpcEndpointPolicy(this, "isolated-sfn-endpoint-policy", {
      vpcEndpointId: this.stepFunctionsEndpointId,
      policy: policyDocument([
        {
          Sid: "TaskTokenAnswersOnly",
          Effect: "Allow",
          Principal: { AWS: [...roleArns] },
          Action: [...TASK_TOKEN_ACTIONS],
          Resource: "*",
        },
      ]),
    });
  }

  /**
   * The S3 gateway endpoints' policies: what each VPC's functions may do in S3
   * through them (the work bucket's keys), nothing else — not even another
   * bucket with the same credentials.
   */
  limitS3Endpoints(statements: { readonly egress: readonly PolicyStatement[]; readonly isolated: readonly PolicyStatement[] }): void {
    for (const [kind, endpointId, list] of [
      ["egress", this.egressS3EndpointId, statements.egress],
      ["isolated", this.isolatedS3EndpointId, statements.isolated],
    ] as const) {
      if (list.length === 0) throw new Error(`limitS3Endpoints: the ${kind} endpoint needs at least one statement (an empty policy denies everything)`);
      new VpcEndpointPolicy(this, `${kind}-s3-endpoint-policy`, { vpcEndpointId: endpointId, policy: policyDocument(list) });
    }
  }

  /**
   * A network ACL on the fetcher's private subnets, a second layer under the
   * fetcher's address guard: outbound traffic to private, loopback, link-local
   * and shared (CGNAT) ranges is dropped, except the VPC's own range (DNS
   * resolver, NAT gateway). Inbound is open: the security groups admit nothing
   * but replies, and an ACL is stateless, so replies must pass it.
   */
  private addFetcherAcl(vpc: Vpc, subnets: Subnet[], props: NetworkProps): void {
    const acl = new NetworkAcl(this, "fetcher-acl", {
      vpcId: vpc.id,
      subnetIds: subnets.map((s) => s.id),
      tags: { Name: `${props.name}-fetcher` },
    });
    const rule = (id: string, n: number, egress: boolean, action: "allow" | "deny", cidrBlock: string) =>
      new NetworkAclRule(this, `fetcher-acl-${id}`, { networkAclId: acl.id, ruleNumber: n, egress, protocol: "-1", ruleAction: action, cidrBlock });
    rule("egress-vpc", 100, true, "allow", props.egressVpcCidr);
    FETCHER_DENIED_RANGES.forEach((cidr, i) => rule(`egress-deny-${i}`, 110 + i * 10, true, "deny", cidr));
    rule("egress-internet", 900, true, "allow", "0.0.0.0/0");
    rule("ingress-replies", 100, false, "allow", "0.0.0.0/0");
  }

  /** Flow logs (ALL traffic) of one VPC into its own log group, through a role only VPC Flow Logs can assume. */
  private addFlowLogs(kind: "egress" | "isolated", vpc: Vpc, props: NetworkProps): void {
    const logGroup = new CloudwatchLogGroup(this, `${kind}-flow-logs`, {
      name: `/aws/vpc-flow-logs/${props.name}-${kind}`,
      retentionInDays: props.flowLogRetentionDays,
      tags: { Name: `${props.name}-${kind}-flow-logs` },
    });
    const role = new IamRole(this, `${kind}-flow-logs-role`, {
      name: `${props.name}-${kind}-flow-logs`,
      description: `VPC Flow Logs of ${props.name}-${kind} write to their log group`,
      assumeRolePolicy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Principal: { Service: "vpc-flow-logs.amazonaws.com" },
            Action: "sts:AssumeRole",
            // Confused-deputy guard without an account lookup: the VPC's owner is the account.
            Condition: { StringEquals: { "aws:SourceAccount": vpc.ownerId } },
          },
        ],
      }),
      tags: { Name: `${props.name}-${kind}-flow-logs` },
    });
    const policy = new IamRolePolicy(this, `${kind}-flow-logs-policy`, {
      name: "write-flow-logs",
      role: role.id,
      policy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Action: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            Resource: `${logGroup.arn}:*`,
          },
        ],
      }),
    });
    new FlowLog(this, `${kind}-flow-log`, {
      vpcId: vpc.id,
      trafficType: "ALL",
      logDestinationType: "cloud-watch-logs",
      logDestination: logGroup.arn,
      iamRoleArn: role.arn,
      maxAggregationInterval: 600,
      tags: { Name: `${props.name}-${kind}` },
      // A flow log created before its role may write stays in "Access error".
      dependsOn: [policy],
    });
  }
}

function validateNetworkProps(props: NetworkProps): void {
  const { name, region, availabilityZones: azs } = props;
  if (!Token.isUnresolved(name) && !NAME_PATTERN.test(name)) {
    throw new Error(`network name: name must be 1..40 characters of [A-Za-z0-9_-] (given "${name}")`);
  }
  if (!Token.isUnresolved(region) && !REGION_PATTERN.test(region)) {
    throw new Error(`network region: region must look like eu-west-1 (given "${region}")`);
  }
  if (Token.isUnresolved(azs) || azs.some((az) => Token.isUnresolved(az))) {
    throw new Error(
      "network availability zones: availabilityZones must be literal names (subnets are laid out at synth time; no lookups)",
    );
  }
  if (azs.length < 2) {
    throw new Error(
      `network availability zones: availabilityZones must list at least 2 AZs (given ${azs.length}: ${JSON.stringify(azs)})`,
    );
  }
  const seen = new Set<string>();
  for (const az of azs) {
    if (seen.has(az)) {
      throw new Error(`network availability zones: availabilityZones must be distinct ("${az}" appears twice)`);
    }
    seen.add(az);
    if (!Token.isUnresolved(region) && !az.startsWith(region)) {
      throw new Error(
        `network availability zones: availabilityZones must be in region ${region} (given "${az}")`,
      );
    }
  }
  for (const field of ["egressVpcCidr", "isolatedVpcCidr"] as const) {
    const value = props[field];
    if (Token.isUnresolved(value)) {
      throw new Error(`network cidr: ${field} must be a literal CIDR (subnets are computed at synth time)`);
    }
    const { prefix } = parseCidr(value, field);
    if (prefix < VPC_PREFIX_MIN || prefix > VPC_PREFIX_MAX) {
      throw new Error(
        `network cidr: ${field} prefix must be /${VPC_PREFIX_MIN}../${VPC_PREFIX_MAX} (given "${value}")`,
      );
    }
  }
  if (cidrsOverlap(props.egressVpcCidr, props.isolatedVpcCidr)) {
    throw new Error(
      `network cidr: egressVpcCidr (${props.egressVpcCidr}) and isolatedVpcCidr (${props.isolatedVpcCidr}) must not overlap`,
    );
  }
  if (props.nat !== "single" && props.nat !== "perAz") {
    throw new Error(`network nat: nat must be "single" or "perAz" (given ${JSON.stringify(props.nat)})`);
  }
  const days = props.flowLogRetentionDays;
  if (!Token.isUnresolved(days) && !(LOG_RETENTION_DAYS as readonly number[]).includes(days)) {
    throw new Error(
      `network flow logs: flowLogRetentionDays must be one of CloudWatch's values ${LOG_RETENTION_DAYS.join(", ")} (given ${days})`,
    );
  }
}
