"""Drives impacket's DCOM/WMI client against one host and prints what it got as JSON.

Usage: impacket_wmi.py HOST DOMAIN USER NAMESPACE QUERY [QUERY...]
The password comes from the environment variable WINV_TEST_PASSWORD (never argv).
With WINV_TEST_KERBEROS=1 it logs on with Kerberos instead and connects to the address in
WINV_TEST_REMOTE_HOST (HOST is the name the service principal host/HOST names), taking a
service ticket for host/HOST from the ticket cache named by KRB5CCNAME (impacket then asks
no KDC).
Each query prints {"query": ..., "rows": [{prop: value, ...}], "error": null|"0x..."};
a query of the form "REG:GetStringValue:HKLM_SUBKEY:VALUE" calls StdRegProv in
root\\default through ExecMethod instead. Exit status 0 unless the connection
itself failed (then {"connect_error": ...} and status 3).
"""
import json
import os
import sys

from impacket.dcerpc.v5.dcom import wmi
from impacket.dcerpc.v5.dcomrt import DCOMConnection
from impacket.dcerpc.v5.dtypes import NULL
from impacket.dcerpc.v5.rpcrt import (RPC_C_AUTHN_LEVEL_CONNECT, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
                                      RPC_C_AUTHN_LEVEL_PKT_PRIVACY, rpc_status_codes)

# impacket raises an RPC fault on a call as DCERPCException("rpc_s_call_failed")
# with no error_code: map its short name back to the status it names.
RPC_STATUS_BY_NAME = {name: code for code, name in rpc_status_codes.items()}


def error_code(e):
    code = getattr(e, "error_code", None)
    if code is None and hasattr(e, "get_error_code"):
        code = e.get_error_code()
    if code is None:
        text = str(e)
        if text in RPC_STATUS_BY_NAME:
            return "0x%08x" % RPC_STATUS_BY_NAME[text]
        # A fault status impacket has no name for: "Unknown DCE RPC fault status code: 000006be".
        prefix = "Unknown DCE RPC fault status code: "
        if text.startswith(prefix):
            return "0x" + text[len(prefix):].strip()
        return text
    return "0x%08x" % (code & 0xFFFFFFFF)


def plain(v):
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, bytes):
        return v.decode("latin-1")
    return v


def rows_of(services, query):
    out = []
    enum = services.ExecQuery(query)
    while True:
        try:
            objs = enum.Next(0xFFFFFFFF, 1)
        except Exception as e:  # impacket raises on S_FALSE at the end
            if "S_FALSE" in str(e) or getattr(e, "error_code", None) == 1:
                break
            raise
        if not objs:
            break
        for obj in objs:
            props = obj.getProperties()
            out.append({k: plain(v["value"]) for k, v in props.items()})
    enum.RemRelease()
    return out


def main():
    host, domain, user, namespace = sys.argv[1:5]
    queries = sys.argv[5:]
    level = RPC_C_AUTHN_LEVEL_PKT_PRIVACY
    if os.environ.get("WINV_TEST_LEVEL") == "integrity":
        level = RPC_C_AUTHN_LEVEL_PKT_INTEGRITY
    elif os.environ.get("WINV_TEST_LEVEL") == "connect":
        level = RPC_C_AUTHN_LEVEL_CONNECT
    dcom = None
    try:
        if os.environ.get("WINV_TEST_KERBEROS") == "1":
            dcom = DCOMConnection(host, user, "", domain, "", "", None, oxidResolver=True,
                                  doKerberos=True, authLevel=level,
                                  remoteHost=os.environ["WINV_TEST_REMOTE_HOST"])
        else:
            dcom = DCOMConnection(host, user, os.environ["WINV_TEST_PASSWORD"], domain, "", "",
                                  None, oxidResolver=True, authLevel=level)
        iface = dcom.CoCreateInstanceEx(wmi.CLSID_WbemLevel1Login, wmi.IID_IWbemLevel1Login)
        # impacket takes the level for the object exporter from the activation
        # reply's authnHint (Windows sends 4, so impacket picks integrity);
        # like wmiquery.py's -rpc-auth-level, raise it to privacy when asked,
        # here before NTLMLogin so the whole WMI conversation is sealed.
        if level == RPC_C_AUTHN_LEVEL_PKT_PRIVACY:
            iface.get_cinstance().set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
        login = wmi.IWbemLevel1Login(iface)
        results = []
        services = {}

        def ns(name):
            if name not in services:
                services[name] = login.NTLMLogin(name, NULL, NULL)
            return services[name]

        for q in queries:
            try:
                if q.startswith("REG:"):
                    _, method, subkey, value = q.split(":", 3)
                    svc = ns("//./root/default")
                    prov, _ = svc.GetObject("StdRegProv")
                    res = getattr(prov, method)(0x80000002, subkey, value)
                    results.append({"query": q, "rows": [{
                        "ReturnValue": res.ReturnValue,
                        "sValue": plain(getattr(res, "sValue", None)),
                    }], "error": None})
                else:
                    results.append({"query": q, "rows": rows_of(ns(namespace), q), "error": None})
            except Exception as e:
                results.append({"query": q, "rows": [], "error": error_code(e),
                                "detail": str(e)})
        print(json.dumps({"results": results}))
        return 0
    except Exception as e:
        print(json.dumps({"connect_error": error_code(e), "detail": str(e)}))
        return 3
    finally:
        if dcom is not None:
            try:
                dcom.disconnect()
            except Exception:
                pass


if __name__ == "__main__":
    sys.exit(main())
