"""Network: a VPC across the configured zones, or the subnets of an existing one."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .config import MAX_AVAILABILITY_ZONES, NetworkConfig


def subnet_cidrs(vpc_cidr: str, zone_count: int) -> tuple[list[str], list[str]]:
    """Carve the VPC into 8 equal blocks: private subnets first (where the nodes live), public after."""
    blocks = list(ipaddress.IPv4Network(vpc_cidr).subnets(prefixlen_diff=3))
    private = [str(b) for b in blocks[:zone_count]]
    public = [str(b) for b in blocks[MAX_AVAILABILITY_ZONES:MAX_AVAILABILITY_ZONES + zone_count]]
    return private, public


@dataclass(frozen=True)
class NetworkArgs:
    config: NetworkConfig
    name: str  # the platform's name prefix, also used for Name tags
    tags: dict[str, str]


class Network(pulumi.ComponentResource):
    """Public and private subnets in every zone, NAT single or per zone, tagged for load balancers."""

    vpc_id: pulumi.Output[str]
    vpc_cidrs: pulumi.Output[list[str]]  # every CIDR of the VPC: where the EKS control plane's ENIs call webhooks from
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]  # in the order of config.availability_zones

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kafka-platform:index:Network", name, None, opts)
        cfg = args.config
        if cfg.existing_vpc:
            self.vpc_id = pulumi.Output.from_input(cfg.existing_vpc.vpc_id)
            # its primary CIDR and any secondary ones (the cluster's subnets may sit in either)
            self.vpc_cidrs = aws.ec2.get_vpc_output(id=cfg.existing_vpc.vpc_id).cidr_block_associations.apply(
                lambda associations: sorted({a.cidr_block for a in associations}))
            self.public_subnet_ids = [pulumi.Output.from_input(s) for s in cfg.existing_vpc.public_subnet_ids]
            self.private_subnet_ids = [pulumi.Output.from_input(s) for s in cfg.existing_vpc.private_subnet_ids]
        else:
            self._create_vpc(name, args)
        self.register_outputs({"vpc_id": self.vpc_id, "private_subnet_ids": self.private_subnet_ids})

    def _create_vpc(self, name: str, args: NetworkArgs) -> None:
        cfg, child = args.config, pulumi.ResourceOptions(parent=self)

        def tags(label: str, **extra: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{args.name}-{label}", **extra}

        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=cfg.vpc_cidr, enable_dns_hostnames=True,
                          enable_dns_support=True, tags=tags("vpc"), opts=child)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags("igw"), opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=vpc.id, tags=tags("public"),
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)], opts=child)

        private_cidrs, public_cidrs = subnet_cidrs(cfg.vpc_cidr, len(cfg.availability_zones))
        self.public_subnet_ids, self.private_subnet_ids = [], []
        nat_ids: list[pulumi.Output[str]] = []
        for i, zone in enumerate(cfg.availability_zones):
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}", vpc_id=vpc.id, availability_zone=zone, cidr_block=public_cidrs[i],
                map_public_ip_on_launch=False, tags=tags(f"public-{zone}", **{"kubernetes.io/role/elb": "1"}),
                opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-public-{zone}", subnet_id=public.id,
                                          route_table_id=public_rt.id, opts=child)
            private = aws.ec2.Subnet(
                f"{name}-private-{zone}", vpc_id=vpc.id, availability_zone=zone, cidr_block=private_cidrs[i],
                tags=tags(f"private-{zone}", **{"kubernetes.io/role/internal-elb": "1"}), opts=child)
            if cfg.nat_gateways == "perAz" or i == 0:
                eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags=tags(f"nat-{zone}"), opts=child)
                nat = aws.ec2.NatGateway(f"{name}-nat-{zone}", subnet_id=public.id, allocation_id=eip.id,
                                         tags=tags(f"nat-{zone}"),
                                         opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]))
                nat_ids.append(nat.id)
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-{zone}", vpc_id=vpc.id, tags=tags(f"private-{zone}"),
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat_ids[-1])],
                opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{zone}", subnet_id=private.id,
                                          route_table_id=private_rt.id, opts=child)
            self.public_subnet_ids.append(public.id)
            self.private_subnet_ids.append(private.id)
        self.vpc_id = vpc.id
        self.vpc_cidrs = pulumi.Output.from_input([cfg.vpc_cidr])
