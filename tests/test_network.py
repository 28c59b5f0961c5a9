import ipaddress

from conftest import run_stack

from components.network import subnet_cidrs

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"


def test_prod_has_public_and_private_subnets_and_a_nat_in_each_of_three_zones(prod):
    subnets = prod.of_type(SUBNET)
    zones = sorted({s.inputs["availabilityZone"] for s in subnets})
    assert zones == ["us-east-1a", "us-east-1b", "us-east-1c"]
    private = [s for s in subnets if s.inputs["tags"].get("kubernetes.io/role/internal-elb") == "1"]
    public = [s for s in subnets if s.inputs["tags"].get("kubernetes.io/role/elb") == "1"]
    assert len(private) == len(public) == 3
    assert all(not s.inputs.get("mapPublicIpOnLaunch") for s in subnets)
    nats = prod.of_type(NAT)
    assert len(nats) == 3
    public_ids = {f"{s.name}-id" for s in public}
    assert {n.inputs["subnetId"] for n in nats} == public_ids


def test_each_private_zone_routes_through_its_own_nat_in_prod(prod):
    routes = {rt.name: rt.inputs["routes"][0]["natGatewayId"]
              for rt in prod.of_type("aws:ec2/routeTable:RouteTable") if rt.name.startswith("network-private")}
    assert routes == {f"network-private-{z}": f"network-nat-{z}-id" for z in ("us-east-1a", "us-east-1b", "us-east-1c")}


def test_dev_shares_one_nat(dev):
    assert len(dev.of_type(NAT)) == 1
    routes = {rt.inputs["routes"][0]["natGatewayId"]
              for rt in dev.of_type("aws:ec2/routeTable:RouteTable") if rt.name.startswith("network-private")}
    assert routes == {"network-nat-us-east-1a-id"}


def test_subnets_do_not_overlap_and_stay_inside_the_vpc():
    vpc = ipaddress.IPv4Network("10.30.0.0/16")
    private, public = subnet_cidrs(str(vpc), 4)
    nets = [ipaddress.IPv4Network(c) for c in private + public]
    assert all(n.subnet_of(vpc) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    assert all(n.prefixlen == 19 for n in nets)


def test_vpc_uses_the_configured_cidr_with_dns(prod):
    vpc = prod.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == "10.30.0.0/16"
    assert vpc.inputs["enableDnsHostnames"] and vpc.inputs["enableDnsSupport"]


def test_existing_vpc_creates_no_network_resources_and_feeds_the_cluster():
    private = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    stack = run_stack("dev", {"network.existingVpc": {
        "vpcId": "vpc-0123456789abcdef0", "publicSubnetIds": ["subnet-0cccccccccccccccc"],
        "privateSubnetIds": private}})
    assert not [r for r in stack if r.type.startswith("aws:ec2/") and r.type != "aws:ec2/launchTemplate:LaunchTemplate"]
    cluster = stack.one("eks:index:Cluster")
    assert cluster.inputs["vpcId"] == "vpc-0123456789abcdef0"
    assert cluster.inputs["privateSubnetIds"] == private
    groups = {g.name: g.inputs["subnetIds"] for g in stack.of_type("eks:index:ManagedNodeGroup")}
    assert groups == {"cluster-us-east-1a": [private[0]], "cluster-us-east-1b": [private[1]]}
